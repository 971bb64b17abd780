print(crypto.sha256("abc"))
print(crypto.hash("sha3-256", "abc"))
print(#crypto.hash("sha512", "abc", {raw = true}))
-- Verifying a webhook signature (GitHub style).
local secret, body = "s3cret", '{"action":"opened"}'
local header = "sha256=" .. crypto.hmac("sha256", secret, body)
local expected = "sha256=" .. crypto.hmac("sha256", secret, body)
print(crypto.constant_time_eq(header, expected))
print(crypto.crc32("123456789"))
