-- With --max-goroutines 5 (max_goroutines.args) main and 4 goroutines may be alive: the fifth go()
-- raises an error naming the option, the script goes on, and once they end go() works again.
local g = chan("mg")
local ok, err
local started = 0
for _ = 1, 10 do
  ok, err = pcall(go, function() receive("mg") end)
  if not ok then break end
  started = started + 1
end
print("started", started)
print(err)
close("mg")
wait()
print("after wait", (pcall(go, function() end)))
wait()
