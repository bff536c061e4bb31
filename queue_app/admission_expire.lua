-- Drop lapsed admissions (score becomes 0: "ended", so the user reads
-- expired) and list who is still admitted.
-- KEYS[1] q:{id}:active   zset user -> admission expiry (0 = ended)
-- KEYS[2] q:{id}:arrival  hash user -> full admission end, until they arrive
-- ARGV[1] now (unix seconds)
-- Returns {lapsed user ids, live user ids, lapsed ids who never arrived}.
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[1], '(0', ARGV[1])
local args = {}
local absent = {}
for i = 1, #lapsed do
  if redis.call('HDEL', KEYS[2], lapsed[i]) == 1 then
    absent[#absent + 1] = lapsed[i]
  end
  args[#args + 1] = 0
  args[#args + 1] = lapsed[i]
  if #args >= 2000 then
    redis.call('ZADD', KEYS[1], 'XX', unpack(args))
    args = {}
  end
end
if #args > 0 then
  redis.call('ZADD', KEYS[1], 'XX', unpack(args))
end
local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')
return {lapsed, live, absent}
