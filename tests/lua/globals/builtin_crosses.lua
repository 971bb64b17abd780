-- Builtins reach a goroutine as its own builtins, as arguments and as upvalues, before the
-- goroutine has used any of them.
local enc, fmt, put = json_encode, string.format, store.set
go(function(f, t, p)
    print(f == json_encode, enc == json_encode, t == store, p == print)
    print(enc({a = 1}), fmt("%d-%s", 3, "x"), put("k", 1), store.get("k"))
    p("printed through an argument")
end, json_encode, store, print)
wait()
