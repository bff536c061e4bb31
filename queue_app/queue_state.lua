-- Read one user's queue state and the round counters, atomically (so a
-- WebSocket consumer can apply later round messages on top of it).
-- KEYS[1] q:{id}:waiting  zset user -> seq
-- KEYS[2] q:{id}:active   zset user -> admission expiry (0 = ended)
-- KEYS[3] q:{id}:meta     hash: round, leaves, rate, seats_left, status (as of the last round)
-- ARGV[1] user id
-- ARGV[2] now (unix seconds)
-- Returns {state, a, b, c, round, leaves, rate, seats_left, status} where state is
-- 1 admitted (a = admitted_until), 0 waiting (a = rank, b = waiting_total,
-- c = seq), 2 expired, 3 not in queue.
local user = ARGV[1]
local meta = redis.call('HMGET', KEYS[3], 'round', 'leaves', 'rate', 'seats_left', 'status')
local admitted_until = redis.call('ZSCORE', KEYS[2], user)
if admitted_until and tonumber(admitted_until) > tonumber(ARGV[2]) then
  return {1, admitted_until, false, false, meta[1], meta[2], meta[3], meta[4], meta[5]}
end
local total = redis.call('ZCARD', KEYS[1])
local rank = redis.call('ZRANK', KEYS[1], user)
if rank then
  return {0, rank, total, redis.call('ZSCORE', KEYS[1], user), meta[1], meta[2], meta[3], meta[4], meta[5]}
end
if admitted_until then
  return {2, false, total, false, meta[1], meta[2], meta[3], meta[4], meta[5]}
end
return {3, false, total, false, meta[1], meta[2], meta[3], meta[4], meta[5]}
