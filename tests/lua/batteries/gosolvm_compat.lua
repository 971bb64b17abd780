-- Go SolVM batteries, called exactly as the Go SolVM's scripts call them (shared/anchors/
-- inventory.md §1b), with the answers they should have had (their bugs are not kept: integers and
-- arrays survive TOML/YAML/JSONC, random.number is in [0, 1), tar.extract cannot escape).
local tmp = os.getenv("TEST_TMP")

-- uuid
local id = uuid.v4()
print(#id, uuid.is_valid(id), #uuid.v4_without_hyphens(), uuid.v4_without_hyphens():find("-"))

-- random
local x = random.number()
print(x >= 0 and x < 1, random.int(1, 1), #random.string(16), random.string(16):match("^%w+$") ~= nil)

-- toml / yaml / jsonc: the Go SolVM returned nil for these integers and arrays.
local cfg = toml.decode('name = "svc"\nport = 8080\nhosts = ["a", "b"]\n[db]\nretries = 3\n')
print(cfg.name, cfg.port, #cfg.hosts, cfg.db.retries)
print(toml.decode(toml.encode({name = "svc", port = 8080})).port)
local y = yaml.decode("name: svc\nport: 8080\nhosts: [a, b]\n")
print(y.port, #y.hosts, yaml.decode(yaml.encode({list = {1, 2, 3}})).list[3])
local j = jsonc.decode('{\n  // comment\n  "port": 8080, "list": [1, 2,],\n}')
print(j.port, #j.list)
print(jsonc.encode({a = 1}))

-- crypto: digests, base64, the Go SolVM's ciphers (outputs checked against openssl enc)
print(crypto.md5("hello"))
print(crypto.sha1("hello"))
print(crypto.sha256("hello"))
print(crypto.sha512("hello"):sub(1, 32))
print(crypto.base64_encode("hello"), crypto.base64_decode("aGVsbG8="))
local enc = crypto.aes_encrypt("hello", "0123456789abcdef", "fedcba9876543210")
print(enc, crypto.aes_decrypt(enc, "0123456789abcdef", "fedcba9876543210"))
local des = crypto.des_encrypt("hello", "8bytekey", "init vec")
print(des, crypto.des_decrypt(des, "8bytekey", "init vec"))
local rc4 = crypto.rc4_encrypt("hello", "keykeykeykeykeyk")
print(rc4, crypto.rc4_decrypt(rc4, "keykeykeykeykeyk"))
local keys = crypto.rsa_generate(1024)
print(keys.private:match("^%-%-%-%-%-BEGIN RSA PRIVATE KEY%-%-%-%-%-") ~= nil,
    keys.public:match("^%-%-%-%-%-BEGIN RSA PUBLIC KEY%-%-%-%-%-") ~= nil)
print(#crypto.random_bytes(16), crypto.random_bytes(16):match("^%x+$") ~= nil)
-- A wrong IV length is a clear error, not a Go panic.
print(pcall(crypto.aes_encrypt, "hello", "0123456789abcdef", "short"))

-- dotenv
write_file(tmp .. "/.env", "COMPAT_KEY=value\n")
dotenv.load(tmp .. "/.env")
print(dotenv.get("COMPAT_KEY"), dotenv.get("COMPAT_MISSING", "default"))
dotenv.set("COMPAT_SET", "1")
print(os.getenv("COMPAT_SET"))

-- csv
csv.write(tmp .. "/data.csv", {{"name", "age"}, {"ada", 36}})
local rows = csv.read(tmp .. "/data.csv")
print(#rows, rows[2][1], rows[2][2])
print(csv.parse("a,b\n1,2\n")[2][2], csv.stringify({{"x", "y,z"}}))

-- ini (keys before the first section are kept, under "")
local i = ini.parse("top = 1\n[server]\nport = 80\n")
print(i[""].top, i.server.port)
ini.write(tmp .. "/app.ini", {server = {port = 80}})
print(ini.read(tmp .. "/app.ini").server.port, (ini.stringify({s = {k = "v"}}):gsub("\n", "|")))

-- ft (download/upload: tests/batteries_python.rs)
write_file(tmp .. "/f.txt", "file")
ft.copy(tmp .. "/f.txt", tmp .. "/copy/f.txt")
ft.move(tmp .. "/copy/f.txt", tmp .. "/moved/f.txt")
print(read_file(tmp .. "/moved/f.txt"), file_exists(tmp .. "/copy/f.txt"))

-- tar
mkdir(tmp .. "/src/sub")
write_file(tmp .. "/src/sub/n.txt", "nested")
tar.create(tmp .. "/a.tar.gz", tmp .. "/src", true)
tar.extract(tmp .. "/a.tar.gz", tmp .. "/dest")
print(read_file(tmp .. "/dest/sub/n.txt"))
for _, e in ipairs(tar.list(tmp .. "/a.tar.gz")) do print(e.name, e.type, e.size) end
