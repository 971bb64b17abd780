-- The collector runs in a goroutine's state: a goroutine making far more garbage than the memory
-- limit allows finishes, and its Lua memory stays small (a fresh state's collector is restarted
-- with an allowance, not left stopped).
go(function()
  local keep
  for i = 1, 200000 do keep = {i, tostring(i), {}} end
  print("garbage made", keep[1], collectgarbage("count") < 2000)
end)
wait()
