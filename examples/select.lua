-- select over two channels, with a timeout, as in the seed.
chan("ch1", 1)
chan("ch2", 1)
go(function() sleep(0.05) send("ch2", "from ch2") end)
local value, channel_name_it_came_from = select("ch1", "ch2")
print(value, channel_name_it_came_from)
print(select("ch1", "ch2", 0.1)) -- nothing arrives: nil nil false
