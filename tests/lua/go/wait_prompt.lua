-- wait() returns once the goroutine it waits for has finished, every time: 300 rounds of go + wait,
-- each finding the goroutine's work done. (That wait() is woken by the last goroutine's end and
-- not by a safety deadline is checked without a clock in tests/registry_model.rs,
-- wait_is_woken_by_the_last_descendant_in_every_interleaving.)
local done = 0
for round = 1, 300 do
  go(function() store.set("wait_prompt", round) end)
  wait()
  if store.get("wait_prompt") == round then done = done + 1 end
end
print(done)
