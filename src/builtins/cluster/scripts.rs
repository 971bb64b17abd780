//! The Lua scripts the cluster runs in Redis: each builtin that must be atomic across processes is
//! one command or one of these (Redis runs a script as one step). Key layout: docs/cluster.md.

/// `cluster.chan`: KEYS[1] the channel's meta hash; ARGV[1] the capacity asked for. Records it
/// when the channel is new; returns the channel's capacity.
pub const CHAN_OPEN: &str = r#"
local cur = redis.call('HGET', KEYS[1], 'cap')
if cur then return tonumber(cur) end
redis.call('HSET', KEYS[1], 'cap', ARGV[1])
return tonumber(ARGV[1])
"#;

/// `send`: KEYS[1] list, KEYS[2] meta; ARGV[1] element, ARGV[2] capacity (0: a rendezvous, whose
/// sender then waits for its element to be taken). 1 stored, 0 full, -1 closed.
pub const SEND: &str = r#"
if redis.call('HGET', KEYS[2], 'closed') then return -1 end
local cap = tonumber(ARGV[2])
if cap > 0 and redis.call('LLEN', KEYS[1]) >= cap then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[1])
return 1
"#;

/// `try_receive`, and a receive's look after an empty `BLPOP`: KEYS are list/meta pairs. The
/// first element of the first non-empty list → {i, element}; else the first closed channel
/// (closed and, as just seen, drained) → {i}; else false. The closed marker (a lone NUL byte,
/// appended by `close` after the last value) goes back where it was and counts as closed.
pub const TAKE: &str = r#"
local n = #KEYS / 2
for i = 1, n do
  local v = redis.call('LPOP', KEYS[2 * i - 1])
  if v == '\0' then
    redis.call('LPUSH', KEYS[2 * i - 1], v)
    return {i}
  end
  if v then return {i, v} end
end
for i = 1, n do
  if redis.call('HGET', KEYS[2 * i], 'closed') then return {i} end
end
return false
"#;

/// `close`: KEYS[1] meta, KEYS[2] list. 1 closed now, 0 it already was. Appends the closed
/// marker after the last value: receivers blocked in `BLPOP` wake at once.
pub const CLOSE: &str = r#"
if redis.call('HGET', KEYS[1], 'closed') then return 0 end
redis.call('HSET', KEYS[1], 'closed', '1')
redis.call('RPUSH', KEYS[2], '\0')
return 1
"#;

/// `store.incr` when a float or a non-zero start is involved: KEYS[1] the key; ARGV: the step's
/// kind ('i' decimal integer, 'f' 8-byte big-endian double) and value, then the start's. Integers
/// stay exact (Redis's own INCRBY); a float result is stored as SolVM's encoded float64. The TTL
/// is kept. Returns the integer, or the encoded float.
pub const INCR: &str = r#"
local cur = redis.call('GET', KEYS[1])
local ck, cv
if not cur then
  ck, cv = ARGV[3], ARGV[4]
elseif string.find(cur, '^%-?%d+$') then
  ck, cv = 'i', cur
elseif #cur == 10 and string.sub(cur, 1, 2) == '\1\203' then
  ck, cv = 'f', string.sub(cur, 3)
else
  return redis.error_reply('NOTNUMBER the value is not a number')
end
if ck == 'i' and ARGV[1] == 'i' then
  if not cur then redis.call('SET', KEYS[1], cv) end
  return redis.call('INCRBY', KEYS[1], ARGV[2])
end
local function num(kind, v)
  if kind == 'i' then return tonumber(v) end
  local x = struct.unpack('>d', v)
  return x
end
local enc = '\1\203' .. struct.pack('>d', num(ck, cv) + num(ARGV[1], ARGV[2]))
if cur then redis.call('SET', KEYS[1], enc, 'KEEPTTL') else redis.call('SET', KEYS[1], enc) end
return enc
"#;

/// `cluster.publish`: KEYS[1] the Redis channel, KEYS[2] the topic's subscriber counts; ARGV[1]
/// the encoded value. {processes reached, then the counts hash's fields and values}.
pub const PUBLISH: &str = r#"
local n = redis.call('PUBLISH', KEYS[1], ARGV[1])
if n == 0 then return {0} end
local r = redis.call('HGETALL', KEYS[2])
table.insert(r, 1, n)
return r
"#;
