-- Leave the queue, or end an admission at once (leave, checkout): the place
-- is free for the next round. A waiting user's departure is logged (with
-- its ordinal) so that every WebSocket consumer can correct its position
-- from the next round message without asking Redis. An entry that leaves
-- the pre-queue before the draw is gone; after the draw it stays drawn.
-- KEYS[1] q:{id}:waiting  zset user -> seq
-- KEYS[2] q:{id}:active   zset user -> admission expiry (0 = ended)
-- KEYS[3] q:{id}:meta     hash: leaves (counter), left_overflow, draw_at
-- KEYS[4] q:{id}:left     list of "ordinal:seq" since the last round
-- KEYS[5] q:{id}:arrival  hash user -> full admission end, until they arrive
-- KEYS[6] q:{id}:entries  hash user -> pre-queue entry id (events with a pre-queue only)
-- KEYS[7] q:{id}:drawn    zset entry id -> drawn score (with KEYS[6])
-- ARGV[1] user id
-- ARGV[2] most entries kept in the left list (past it consumers resync)
-- ARGV[3] "leave" (waiting set and admission) or "end" (admission only)
-- Returns 1 left the waiting set, 2 ended an admission, 0 nothing to do.
local user = ARGV[1]
local seq = false
if ARGV[3] == 'leave' then
  seq = redis.call('ZSCORE', KEYS[1], user)
  if #KEYS == 7 and redis.call('HEXISTS', KEYS[3], 'draw_at') == 0 then
    local entry = redis.call('HGET', KEYS[6], user)
    if entry then
      redis.call('HDEL', KEYS[6], user)
      redis.call('ZREM', KEYS[7], entry)
    end
  end
end
if seq then
  redis.call('ZREM', KEYS[1], user)
  local ordinal = redis.call('HINCRBY', KEYS[3], 'leaves', 1)
  if redis.call('LLEN', KEYS[4]) < tonumber(ARGV[2]) then
    redis.call('RPUSH', KEYS[4], ordinal .. ':' .. seq)
  else
    redis.call('HSET', KEYS[3], 'left_overflow', 1)
  end
  return 1
end
local admitted_until = redis.call('ZSCORE', KEYS[2], user)
if admitted_until and tonumber(admitted_until) > 0 then
  redis.call('ZADD', KEYS[2], 0, user)
  redis.call('HDEL', KEYS[5], user)
  return 2
end
return 0
