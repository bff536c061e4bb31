-- Join an event's waiting queue; idempotent (a second join keeps its place).
-- The per-user join limit is counted here too (fixed window, like
-- ticketing.ratelimit), so a join is one round trip; past the limit nothing
-- else changes.
-- KEYS[1] q:{id}:seq      INCR counter, the join sequence number
-- KEYS[2] q:{id}:waiting  zset user -> seq
-- KEYS[3] q:{id}:active   zset user -> admission expiry (0 = ended)
-- KEYS[4] q:{id}:rl:<user>:<window start>  the user's join counter for this
--         window (optional: bulk loads pass 3 keys and 2 arguments, no limit)
-- ARGV[1] user id
-- ARGV[2] now (unix seconds)
-- ARGV[3] joins allowed per window (with KEYS[4])
-- ARGV[4] window length in seconds (with KEYS[4])
-- ARGV[5] "1" when the event asks a first join for a challenge and none was
--         passed: someone neither waiting nor admitted gets "c" instead
-- Returns one flat string (cheapest reply to parse on the hot path):
--   "r" past the limit, "a <admitted_until>" when admitted, "c" when a
--   challenge is needed first,
--   else "w <rank, 0-based> <waiting_total> <created 0/1>".
-- A rejoin burns one sequence number; gaps do not matter, only the order does.
local user = ARGV[1]
if #KEYS == 4 then
  local count = redis.call('INCR', KEYS[4])
  if count == 1 then
    redis.call('EXPIRE', KEYS[4], tonumber(ARGV[4]) + 1)
  end
  if count > tonumber(ARGV[3]) then
    return 'r'
  end
end
local admitted_until = redis.call('ZSCORE', KEYS[3], user)
if admitted_until and tonumber(admitted_until) > tonumber(ARGV[2]) then
  return 'a ' .. admitted_until
end
if ARGV[5] == '1' and not redis.call('ZSCORE', KEYS[2], user) then
  return 'c'
end
if redis.call('ZADD', KEYS[2], 'NX', redis.call('INCR', KEYS[1]), user) == 1 then
  local total = redis.call('ZCARD', KEYS[2])
  return 'w ' .. (total - 1) .. ' ' .. total .. ' 1'
end
return 'w ' .. redis.call('ZRANK', KEYS[2], user) .. ' ' .. redis.call('ZCARD', KEYS[2]) .. ' 0'
