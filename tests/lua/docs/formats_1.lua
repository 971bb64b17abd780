local cfg = toml.decode([[
name = "api"
port = 8080
hosts = ["a", "b"]
[limits]
rate = 2.5
]])
print(cfg.name, cfg.port, math.type(cfg.port), #cfg.hosts, cfg.limits.rate)
io.write(toml.encode({name = "api", port = 8080, limits = {rate = 2.5}}))
print(toml.decode("port = \n"))
