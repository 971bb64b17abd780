local key = crypto.random_bytes(32)          -- 64 hex digits; keep it secret
local token = crypto.encrypt("card 4242", key)
print(crypto.decrypt(token, key))
local raw = base64_decode(token)
local flipped = raw:sub(1, -2) .. string.char(raw:byte(-1) ~ 1)
print(crypto.decrypt(base64_encode(flipped), key))
print(pcall(crypto.encrypt, "x", "short key"))
