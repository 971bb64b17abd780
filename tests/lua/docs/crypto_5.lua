local key, iv = "0123456789abcdef", "fedcba9876543210"
local sealed = crypto.aes_encrypt("hello", key, iv)
print(sealed, crypto.aes_decrypt(sealed, key, iv))
print(pcall(crypto.aes_encrypt, "hello", key, "short"))
local pair = crypto.rsa_generate(1024)
print(pair.public:match("^[^\n]+"))
