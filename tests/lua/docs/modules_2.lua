local ok, err = pcall(import, "nothing_here")
print(ok, err:match("module 'nothing_here' not found") ~= nil)
