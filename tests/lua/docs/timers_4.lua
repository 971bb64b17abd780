local mark = os.getenv("TEST_TMP") .. "/reloaded"
if not file_exists(mark) then
  write_file(mark, "yes")
  print("first run")
  reload_script()
  sleep(1)                          -- the reload stops this run
else
  print("second run")
end
