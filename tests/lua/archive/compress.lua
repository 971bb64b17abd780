-- compress: every format round-trips, levels, the max_bytes guard, corrupt data.
local text = string.rep("SolVM compresses this line again and again. ", 2000)
for _, f in ipairs({"gzip", "zlib", "deflate", "zstd", "brotli", "lz4"}) do
    local packed = compress.encode(f, text)
    print(f, #packed < #text / 10, compress.decode(f, packed) == text, compress.decode(f, compress.encode(f, "")) == "")
end
-- Magic numbers: the formats other tools read.
print(hex_encode(compress.encode("gzip", "x"):sub(1, 2)), hex_encode(compress.encode("zstd", "x"):sub(1, 4)),
    hex_encode(compress.encode("lz4", "x"):sub(1, 4)), hex_encode(compress.encode("zlib", "x"):sub(1, 1)))
print(#compress.encode("gzip", text, 1) >= #compress.encode("gzip", text, 9))
print(#compress.encode("zstd", text, 19) <= #compress.encode("zstd", text, 1))
print(compress.decode("gz", compress.encode("gzip", "alias")), compress.decode("br", compress.encode("brotli", "alias")))
-- Concatenated gzip members decode as one stream, like gunzip.
print(compress.decode("gzip", compress.encode("gzip", "one ") .. compress.encode("gzip", "two")))

-- A bomb: 64 MiB of zeros packs small; decoding stops at max_bytes.
local zeros = string.rep("\0", 64 * 1024 * 1024)
for _, f in ipairs({"gzip", "zstd", "brotli", "lz4"}) do
    local bomb = compress.encode(f, zeros)
    print(f, #bomb < 1024 * 1024, compress.decode(f, bomb, {max_bytes = 1024 * 1024}))
end
print(#compress.decode("zstd", compress.encode("zstd", zeros), {max_bytes = 64 * 1024 * 1024}))
zeros = nil
collectgarbage()

print(compress.decode("gzip", "definitely not gzip"))
print(compress.decode("zlib", compress.encode("zlib", text):sub(1, 100)))
print(pcall(compress.encode, "rar", "x"))
print(pcall(compress.encode, "brotli", "x", 12))
print(pcall(compress.decode, "gzip", "x", {max_bytes = -1}))
print(compress.encode("lz4", "no level", 99) ~= nil)
