local fired = 0
local id = cron("*/1 * * * * *", function() fired = fired + 1 end)
sleep(2.5)
print("fired at least twice:", fired >= 2)
print(clear_cron(id))
local ok, err = pcall(cron, "61 * * * * *", function() end)
print(ok, err ~= nil)
