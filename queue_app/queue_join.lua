-- Join an event's waiting queue; idempotent (a second join keeps its place).
-- KEYS[1] q:{id}:seq      INCR counter, the join sequence number
-- KEYS[2] q:{id}:waiting  zset user -> seq
-- KEYS[3] q:{id}:active   zset user -> admission expiry (0 = ended)
-- ARGV[1] user id
-- ARGV[2] now (unix seconds)
-- Returns one flat string (cheapest reply to parse on the hot path):
--   "a <admitted_until>" when admitted, else "w <rank, 0-based> <waiting_total> <created 0/1>".
-- A rejoin burns one sequence number; gaps do not matter, only the order does.
local user = ARGV[1]
local admitted_until = redis.call('ZSCORE', KEYS[3], user)
if admitted_until and tonumber(admitted_until) > tonumber(ARGV[2]) then
  return 'a ' .. admitted_until
end
if redis.call('ZADD', KEYS[2], 'NX', redis.call('INCR', KEYS[1]), user) == 1 then
  local total = redis.call('ZCARD', KEYS[2])
  return 'w ' .. (total - 1) .. ' ' .. total .. ' 1'
end
return 'w ' .. redis.call('ZRANK', KEYS[2], user) .. ' ' .. redis.call('ZCARD', KEYS[2]) .. ' 0'
