-- Join an event's waiting queue; idempotent (a second join keeps its place).
-- The per-user join limit is counted here too (fixed window, like
-- ticketing.ratelimit), so a join is one round trip; past the limit nothing
-- else changes. An event with a pre-queue (ARGV[6]) takes entries until the
-- sale opens; the first join after the opening starts the draw if the beat
-- has not (draw_start_fn.lua), so no later join can get ahead of an entry.
-- KEYS[1] q:{id}:seq      INCR counter, the join sequence number
-- KEYS[2] q:{id}:waiting  zset user -> seq
-- KEYS[3] q:{id}:active   zset user -> admission expiry (0 = ended)
-- KEYS[4] q:{id}:meta     hash: draw_base, draw_n (and the round's counters)
-- KEYS[5] q:{id}:pre      zset "<sha256 hex>:<entry>:<user>" -> 0, the pre-queue
-- KEYS[6] q:{id}:entries  hash user -> "<sha256 hex>:<entry>" (in the pre-queue) or "<entry>" (placed)
-- KEYS[7] q:{id}:rl:<user>:<window start>  the user's join counter for this
--         window (optional: bulk loads pass 6 keys and no limit)
-- ARGV[1] user id
-- ARGV[2] now (unix seconds)
-- ARGV[3] joins allowed per window (with KEYS[7])
-- ARGV[4] window length in seconds (with KEYS[7])
-- ARGV[5] "1" when the event asks a first join for a challenge and none was
--         passed: someone neither waiting nor admitted gets "c" instead
-- ARGV[6] the sale's opening (unix seconds) for an event with a pre-queue, else ""
-- ARGV[7] with ARGV[6]: a new entry, "<sha256(seed || entry) hex>:<entry>"
-- Returns one flat string (cheapest reply to parse on the hot path):
--   "r" past the limit, "a <admitted_until>" when admitted, "c" when a
--   challenge is needed first, "p <entry> <entrants> <created 0/1>" in the
--   pre-queue, else "w <rank, 0-based> <waiting_total> <created 0/1>".
--   With a pre-queue, "a" and "w" end with " <entry or -> <started 0/1>"
--   (started: this join started the draw).
-- A rejoin burns one sequence number; gaps do not matter, only the order does.
local user = ARGV[1]
if #KEYS == 7 then
  local count = redis.call('INCR', KEYS[7])
  if count == 1 then
    redis.call('EXPIRE', KEYS[7], tonumber(ARGV[4]) + 1)
  end
  if count > tonumber(ARGV[3]) then
    return 'r'
  end
end
local prequeue = ARGV[6] ~= nil and ARGV[6] ~= ''
if not prequeue then
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
end

-- An event with a pre-queue. value: the person's entry, if any.
local value = redis.call('HGET', KEYS[6], user)
local unplaced = value and #value > 64
local entry = '-'
if unplaced then
  entry = string.sub(value, 66)
elseif value then
  entry = value
end
local draw = redis.call('HMGET', KEYS[4], 'draw_base', 'draw_n')
if not draw[1] and tonumber(ARGV[2]) < tonumber(ARGV[6]) then
  -- The pre-queue window: an entry for the draw, no place yet.
  if value then
    return 'p ' .. entry .. ' ' .. redis.call('ZCARD', KEYS[5]) .. ' 0'
  end
  if ARGV[5] == '1' then
    return 'c'
  end
  redis.call('HSET', KEYS[6], user, ARGV[7])
  redis.call('ZADD', KEYS[5], 0, ARGV[7] .. ':' .. user)
  return 'p ' .. string.sub(ARGV[7], 66) .. ' ' .. redis.call('ZCARD', KEYS[5]) .. ' 1'
end
local started = 0
if not draw[1] then
  draw_start(KEYS[1], KEYS[4], KEYS[5], ARGV[2], true)
  started = 1
  draw = redis.call('HMGET', KEYS[4], 'draw_base', 'draw_n')
end
local top = tonumber(draw[1]) + tonumber(draw[2])
local unmoved = redis.call('ZCARD', KEYS[5])
local tail = ' ' .. entry .. ' ' .. started
local admitted_until = redis.call('ZSCORE', KEYS[3], user)
if admitted_until and tonumber(admitted_until) > tonumber(ARGV[2]) then
  return 'a ' .. admitted_until .. tail
end
local total = redis.call('ZCARD', KEYS[2]) + unmoved
if unplaced then
  -- Drawn, not yet moved: behind the entries already placed, at its drawn place among the rest.
  local rank = redis.call('ZCOUNT', KEYS[2], '-inf', top) + redis.call('ZRANK', KEYS[5], value .. ':' .. user)
  return 'w ' .. rank .. ' ' .. total .. ' 0' .. tail
end
local seq = redis.call('ZSCORE', KEYS[2], user)
if ARGV[5] == '1' and not seq then
  return 'c'
end
local created = 0
if not seq then
  seq = redis.call('INCR', KEYS[1])
  redis.call('ZADD', KEYS[2], seq, user)
  created = 1
  total = total + 1
end
local rank = redis.call('ZRANK', KEYS[2], user)
if tonumber(seq) > top then
  rank = rank + unmoved -- every entry still to move is ahead of a later join
end
return 'w ' .. rank .. ' ' .. total .. ' ' .. created .. tail
