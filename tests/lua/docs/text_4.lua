local Point = setmetatable({}, {__name = "Point", __call = function() return "new point" end})
print(types.is_integer(3.0), types.is_integer(3.5), types.is_string(1), types.is_callable(Point))
print(types.type(Point), types.type(regex.new("x")), types.type(nil), types.is_callable({}))
