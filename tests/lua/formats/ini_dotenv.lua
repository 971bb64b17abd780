-- INI and dotenv.
local cfg = ini.parse([[
; top-level keys land under ""
name = demo
# another comment
[database]
host = "db.local"
port = 5432
path = C:\data

[empty]
]])
print(cfg[""].name, cfg.database.host, cfg.database.port, math.type(cfg.database.port), cfg.database.path)
print(next(cfg.empty))
io.write(ini.stringify(cfg))
io.write(ini.stringify({top = 1, flag = true, s = {b = 2, a = "x y"}}))
print(ini.parse("[unclosed\nx=1\n"))
print(pcall(ini.stringify, {s = {deep = {}}}))
local path = os.getenv("TEST_TMP") .. "/app.ini"
print(ini.write(path, {server = {port = 80}}), ini.read(path).server.port)

local env = dotenv.parse([[
# comment
export TOKEN=abc123
QUOTED="hello world"
SINGLE='no $expansion'
EMPTY=
EXPANDED=${TOKEN}-x
]])
print(env.TOKEN, env.QUOTED, env.SINGLE, env.EMPTY == "", env.EXPANDED)
print(dotenv.parse("GOOD=1\nBAD LINE\n"))
print(dotenv.parse("SPACES=need quotes\n"))
local file = os.getenv("TEST_TMP") .. "/.env"
write_file(file, "SOLVM_DOTENV_A=\"from file\"\nexport SOLVM_DOTENV_B='b b'\n")
print(dotenv.load(file), dotenv.get("SOLVM_DOTENV_A"), dotenv.get("SOLVM_DOTENV_B"))
print(os.getenv("SOLVM_DOTENV_A"))
print(dotenv.get("SOLVM_DOTENV_UNSET"), dotenv.get("SOLVM_DOTENV_UNSET", "fallback"))
print(dotenv.set("SOLVM_DOTENV_C", "set"), os.getenv("SOLVM_DOTENV_C"))
print(pcall(dotenv.set, "A=B", "x"))
local missing, err = dotenv.load(os.getenv("TEST_TMP") .. "/none.env")
print(missing, err:match("no such file or directory") ~= nil)
