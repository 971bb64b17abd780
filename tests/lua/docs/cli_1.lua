-- run with: solvm --timeout 1s cli_1.lua
print("working")
while true do end
