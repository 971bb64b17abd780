-- A six-field cron job every second fires again and again; clear_cron stops it: a one-shot timer
-- due 1.5 s after the clear (past the next second) is the next callback to arrive.
local fired = chan(10)
local id = cron("*/1 * * * * *", function() send(fired, "cron") end)
print("fired twice:", receive(fired, 10), receive(fired, 10))
print(clear_cron(id))
set_timeout(function() send(fired, "timer") end, 1.5)
print("next after clear:", receive(fired, 10))
