local ch = chan(2)
print(ch:send("a"), send(ch, "b"))       -- true true
print(send(ch, "c", 0.05))               -- false: full, timed out
print(#ch, ch:cap(), ch:name())          -- 2 2 nil
print(receive(ch))                       -- a true
print(ch:try_receive())                  -- b true
print(try_receive(ch))                   -- nil false (empty)
print(receive(ch, 0.05))                 -- nil false timeout
close(ch)
print(receive(ch))                       -- nil false (closed and drained)
print(pcall(send, ch, "d"))
print(pcall(close, ch))
