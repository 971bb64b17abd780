-- Two workers share a job queue; run this same script in several processes with --cluster
-- and they share the queue too.
local jobs = cluster.chan("jobs", 100)
local done = cluster.chan("done", 100)
for w = 1, 2 do
    go(function()
        while true do
            local job, ok = receive(jobs)
            if not ok then break end
            send(done, {id = job.id, result = job.n * job.n})
        end
    end)
end
for i = 1, 5 do send(jobs, {id = i, n = i + 1}) end
close(jobs)
local total = 0
for _ = 1, 5 do total = total + receive(done).result end
print("total", total)
print(jobs:cap(), #jobs, jobs:is_closed())
