local name, path = ...
print("strings loaded as " .. name .. " from " .. path)
local strings = {}
function strings.shout(s)
    return s:upper() .. "!"
end
return strings
