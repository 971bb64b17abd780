local mark = "reloaded"
if not file_exists(mark) then
  write_file(mark, "yes")
  print("first run")
  reload_script()                   -- stops this run: nothing below runs
  print("not reached")
else
  remove(mark)
  print("second run")
end
