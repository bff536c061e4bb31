-- Join an event's waiting queue; idempotent (a second join keeps its place).
-- KEYS[1] q:{id}:seq      INCR counter, the join sequence number
-- KEYS[2] q:{id}:waiting  zset user -> seq
-- KEYS[3] q:{id}:active   zset user -> admission expiry (0 = ended)
-- ARGV[1] user id
-- ARGV[2] now (unix seconds)
-- Returns {1, admitted_until} when admitted, else {0, rank (0-based), waiting_total, created (0/1)}.
local user = ARGV[1]
local admitted_until = redis.call('ZSCORE', KEYS[3], user)
if admitted_until and tonumber(admitted_until) > tonumber(ARGV[2]) then
  return {1, admitted_until}
end
local rank = redis.call('ZRANK', KEYS[2], user)
if rank then
  return {0, rank, redis.call('ZCARD', KEYS[2]), 0}
end
redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[1]), user)
local total = redis.call('ZCARD', KEYS[2])
return {0, total - 1, total, 1}
