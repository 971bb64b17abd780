print(get_goroutines()[1])
local ok, err = pcall(go, 42)
print(ok, err)
