-- The seed's scheduler snippet, as written. The cron job makes this a service: it runs until
-- Ctrl-C (run: solvm examples/services/scheduler.lua).

-- Do this every 5 seconds
local interval_id = set_interval(function()
    print("Interval just happened!")
end, 5)

-- Do this once, after 3 seconds
local timeout_id = set_timeout(function()
    print("Timeout just happened!")
end, 3)

-- Run this based on a cron schedule (e.g., every minute)
local cron_id = cron("0 * * * * *", function()
    print("Cron job just ran!")
end)

-- To stop them:
-- clear_interval(interval_id)
-- clear_timeout(timeout_id)
-- clear_cron(cron_id)
