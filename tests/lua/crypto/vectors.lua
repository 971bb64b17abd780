-- Published test vectors through the Lua API (the Rust unit tests check more of them).
-- FIPS 180-2 / FIPS 202 / RFC 1321 "abc", and the empty string.
print(crypto.md5("abc"))
print(crypto.sha1("abc"))
print(crypto.sha224("abc"))
print(crypto.sha256("abc"))
print(crypto.sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))
print(crypto.sha384("abc"))
print(crypto.sha512("abc"))
print(crypto.sha3_256("abc"))
print(crypto.sha3_512("abc"))
print(crypto.hash("sha3-224", "abc"))
print(crypto.hash("sha3-384", "abc"))
print(crypto.blake3(""))
print(crypto.sha256(""))
print(#crypto.hash("sha256", "abc", {raw = true}), hex_encode(crypto.hash("md5", "abc", {raw = true})))

-- RFC 4231 HMAC-SHA-256/512, test cases 1, 2 and 6.
local key1 = string.rep("\x0b", 20)
print(crypto.hmac("sha256", key1, "Hi There"))
print(crypto.hmac("sha512", key1, "Hi There"))
print(crypto.hmac("sha256", "Jefe", "what do ya want for nothing?"))
print(crypto.hmac("sha256", string.rep("\xaa", 131), "Test Using Larger Than Block-Size Key - Hash Key First"))
print(pcall(crypto.hmac, "blake3", "k", "d"))

-- CRC-32 check value.
print(crypto.crc32("123456789"), string.format("%08x", crypto.crc32("123456789")))

-- RFC 4648 §10.
for _, s in ipairs({"", "f", "fo", "foo", "foob", "fooba", "foobar"}) do
    io.write(base64_encode(s), " ", base64_decode(base64_encode(s)) == s and "ok" or "BAD", " ",
        hex_encode(s), "\n")
end
print(base64url_encode("\251\255\254"), base64_encode("\251\255\254"), hex_encode(base64url_decode("-__-")))
print(base64_decode("Zm9v\nYmFy"), base64_decode("Zm9vYg"), crypto.base64_encode("x") == base64_encode("x"))
print(base64_decode("Zm9v!"))
print(hex_decode("48656C6c6f"), hex_decode("abc"))

-- NIST SP 800-38A F.2.1 (CBC-AES128): the first two ciphertext blocks (PKCS#7 adds a third).
local key = hex_decode("2b7e151628aed2a6abf7158809cf4f3c")
local iv = hex_decode("000102030405060708090a0b0c0d0e0f")
local plain = hex_decode("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51")
local sealed = base64_decode(crypto.aes_encrypt(plain, key, iv))
print(hex_encode(sealed:sub(1, 32)), #sealed)
print(crypto.aes_decrypt(base64_encode(sealed), key, iv) == plain)
-- F.2.5 (CBC-AES256).
key = hex_decode("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
print(hex_encode(base64_decode(crypto.aes_encrypt(plain, key, iv)):sub(1, 32)))

-- GCM specification test case 14 (AES-256, zero key and IV, one zero block): a token is
-- base64(nonce .. ciphertext .. tag).
local token = base64_encode(string.rep("\0", 12) ..
    hex_decode("cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919"))
print(crypto.decrypt(token, string.rep("\0", 32)) == string.rep("\0", 16))

-- The Argon2 reference implementation's PHC string for "password" / "somesalt".
local phc = "$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG"
print(crypto.password_verify("password", phc), crypto.password_verify("passw0rd", phc))
