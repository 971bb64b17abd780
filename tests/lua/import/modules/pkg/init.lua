return { kind = "package from init.lua" }
