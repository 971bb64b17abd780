go(function()
  local x = 0
  while true do x = x + 1 end
end)
print("sleeping")
sleep(100)
print("unreachable")
