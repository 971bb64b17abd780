-- crypto.encrypt/decrypt (AES-256-GCM), passwords, the Go SolVM ciphers: round trips and every
-- refusal.
local key = crypto.random_bytes(32, {raw = true})
local token = crypto.encrypt("attack at dawn", key)
print(#key, crypto.decrypt(token, key))
-- A new nonce each time: the same message never gives the same token.
print(crypto.encrypt("x", key) ~= crypto.encrypt("x", key))
-- The hex key `crypto.random_bytes(32)` returns works as well.
local hexkey = crypto.random_bytes(32)
print(#hexkey, crypto.decrypt(crypto.encrypt("hex key", hexkey), hexkey))
-- Tampering anywhere (nonce, ciphertext or tag) is caught.
local raw = base64_decode(token)
for _, at in ipairs({1, 13, #raw}) do
    local bad = raw:sub(1, at - 1) .. string.char(raw:byte(at) ~ 1) .. raw:sub(at + 1)
    print(at, crypto.decrypt(base64_encode(bad), key))
end
print(crypto.decrypt(token, crypto.random_bytes(32, {raw = true})))
print(crypto.decrypt("not base64!", key))
print(crypto.decrypt(base64_encode("short"), key))
print(pcall(crypto.encrypt, "x", "too short"))
print(pcall(crypto.decrypt, token, string.rep("k", 33)))
print(crypto.decrypt(crypto.encrypt("", key), key) == "")

-- Passwords: argon2id PHC strings, salted.
local h1, h2 = crypto.password_hash("s3cret"), crypto.password_hash("s3cret")
print(h1:match("^%$argon2id%$v=19%$m=19456,t=2,p=1%$") ~= nil, h1 ~= h2)
print(crypto.password_verify("s3cret", h1), crypto.password_verify("S3cret", h1))
print(crypto.password_verify("x", "not a hash"))

-- Go SolVM ciphers: wrong key or IV lengths raise, bad data is nil, err.
local k16, iv = "0123456789abcdef", "fedcba9876543210"
print(crypto.aes_decrypt(crypto.aes_encrypt("hello", k16, iv), k16, iv))
print(pcall(crypto.aes_encrypt, "hello", "short", iv))
print(pcall(crypto.aes_encrypt, "hello", k16, "short"))
print(crypto.aes_decrypt(crypto.aes_encrypt("hello", k16, iv), k16, string.rep("z", 16)))
print(crypto.aes_decrypt("@@@", k16, iv))
print(crypto.des_decrypt(crypto.des_encrypt("legacy", "8bytekey", "init vec"), "8bytekey", "init vec"))
print(pcall(crypto.des_encrypt, "x", "7 bytes", "init vec"))
print(crypto.rc4_decrypt(crypto.rc4_encrypt("stream", "k"), "k"))
print(pcall(crypto.rc4_encrypt, "x", ""))
print(pcall(crypto.rsa_generate, 100))

print(crypto.constant_time_eq("abc", "abc"), crypto.constant_time_eq("abc", "abd"),
    crypto.constant_time_eq("abc", "ab"))
print(#crypto.random_bytes(16), #crypto.random_bytes(0), pcall(crypto.random_bytes, -1))
print(pcall(crypto.hash, "sha3", "x"))
