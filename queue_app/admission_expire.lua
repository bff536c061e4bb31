-- Drop lapsed admissions (score becomes 0: "ended", so the user reads
-- expired) and list who is still admitted.
-- KEYS[1] q:{id}:active   zset user -> admission expiry (0 = ended)
-- ARGV[1] now (unix seconds)
-- Returns {lapsed user ids, live user ids}.
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[1], '(0', ARGV[1])
local args = {}
for i = 1, #lapsed do
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
return {lapsed, live}
