-- Leave the queue, or end an admission at once (leave, checkout): the place
-- is free for the next round. A waiting user's departure is logged (with
-- its ordinal) so that every WebSocket consumer can correct its position
-- from the next round message without asking Redis. An entry the draw has
-- not placed yet leaves the pre-queue: before the draw it is gone; while
-- the draw moves the entries it stays listed but gets no place.
-- KEYS[1] q:{id}:waiting  zset user -> seq
-- KEYS[2] q:{id}:active   zset user -> admission expiry (0 = ended)
-- KEYS[3] q:{id}:meta     hash: leaves (counter), left_overflow, draw_base
-- KEYS[4] q:{id}:left     list of "ordinal:seq" since the last round
-- KEYS[5] q:{id}:arrival  hash user -> full admission end, until they arrive
-- KEYS[6] q:{id}:pre       zset "<sha256 hex>:<entry>:<user>" -> 0 (optional, with KEYS[7-8])
-- KEYS[7] q:{id}:entries   hash user -> "<sha256 hex>:<entry>" or "<entry>"
-- KEYS[8] q:{id}:draw-left set of users whose unplaced entry left during the draw
-- ARGV[1] user id
-- ARGV[2] most entries kept in the left list (past it consumers resync)
-- ARGV[3] "leave" (waiting set and admission) or "end" (admission only)
-- Returns 1 left the waiting set (or the pre-queue), 2 ended an admission, 0 nothing to do.
local user = ARGV[1]
local seq = false
if ARGV[3] == 'leave' then
  if #KEYS == 8 then
    local value = redis.call('HGET', KEYS[7], user)
    if value and #value > 64 then
      redis.call('HDEL', KEYS[7], user)
      if redis.call('HEXISTS', KEYS[3], 'draw_base') == 1 then
        redis.call('SADD', KEYS[8], user)
      else
        redis.call('ZREM', KEYS[6], value .. ':' .. user)
      end
      return 1
    end
  end
  seq = redis.call('ZSCORE', KEYS[1], user)
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
