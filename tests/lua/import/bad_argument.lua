-- import wants a string.
local ok, err = pcall(import)
print(ok, tostring(err):match("bad argument #1 to 'import' %b()"))
import({})
