print(json_encode({}), json_encode(json_array({})), json_encode({1, 2, 3}))
print(json_encode({a = json_null, b = setmetatable({}, json_array_mt)}))
print(json_encode({user = {id = 1, roles = {"admin"}}}, {indent = 2}))
