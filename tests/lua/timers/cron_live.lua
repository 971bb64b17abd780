-- A six-field cron job every second fires at least twice; clear_cron stops it.
local fired = 0
local id = cron("*/1 * * * * *", function() fired = fired + 1 end)
sleep(2.6)
print("fired at least twice:", fired >= 2)
print(clear_cron(id))
local after = fired
sleep(1.2)
print("quiet after clear:", fired == after)
