print(select("2", "a", "b"), select("#x", 1, 2), select(-1, "a", "b"))
print(pcall(select, 0))
chan("jobs", 1)
send("jobs", "ready")
print(select("jobs", 1))                        -- a name or a channel object: a channel select
warn("@on")
warn("disk ", "almost full")                    -- stderr: Lua warning: disk almost full
