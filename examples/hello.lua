-- The seed's simple script: JSON both ways and a nap.
local my_data = {
    name = "Tester",
    values = {10, 20, 30}
}

local json_version = json_encode(my_data)
print("As JSON:", json_version)

local back_to_lua = json_decode(json_version)
print("Decoded name:", back_to_lua.name)

print("Gonna sleep for 1 sec...")
sleep(1)
print("I'm awake!")
