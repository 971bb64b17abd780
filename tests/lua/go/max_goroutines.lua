local g = chan("mg")
local ok, err
local started = 0
for i = 1, 10 do
  ok, err = pcall(go, function() receive("mg") end)
  if not ok then break end
  started = started + 1
end
print(ok, started < 10, err:find("--max-goroutines", 1, true) ~= nil)
close("mg")
wait()
