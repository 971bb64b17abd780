-- The seed's concurrency example: a worker doubling numbers over two channels.
chan("numbers", 5)
chan("results", 5)

go(function()
    while true do
        local num = receive("numbers")
        if num == nil then break end -- stop if channel closed or empty and done
        send("results", num * 2)
    end
end)

send("numbers", 42)
local result = receive("results")
print("Result is:", result) -- should be 84
close("numbers")
wait()
