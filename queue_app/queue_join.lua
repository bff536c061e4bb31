-- Join an event's waiting queue; idempotent (a second join keeps its place).
-- The per-user join limit is counted here too (fixed window, like
-- ticketing.ratelimit), so a join is one round trip; past the limit nothing
-- else changes.
-- An event with a pre-queue (ARGV[6]) takes entries until its draw: each
-- waits at its drawn place from the start, score = the first 52 bits of
-- sha256(seed || entry) (unique: a taken score is refused, "x", and the
-- caller tries a new entry). The first join after the opening makes the
-- draw if nobody has (draw_start_fn.lua); every later join scores 2^52 +
-- seq, behind every entry whatever the timing.
-- KEYS[1] q:{id}:seq      INCR counter, the join sequence number
-- KEYS[2] q:{id}:waiting  zset user -> seq (pre-queue events: drawn score, or 2^52 + seq)
-- KEYS[3] q:{id}:active   zset user -> admission expiry (0 = ended)
-- KEYS[4] q:{id}:rl:<user>:<window start>  the user's join counter for this
--         window (optional: bulk loads pass no limit)
-- then, for an event with a pre-queue only (ARGV[6]):
--         q:{id}:meta     hash: draw_at, draw_n (and the round's counters)
--         q:{id}:entries  hash user -> entry id
--         q:{id}:drawn    zset entry id -> drawn score, the entries in drawn order
-- ARGV[1] user id
-- ARGV[2] now (unix seconds)
-- ARGV[3] joins allowed per window (with KEYS[4])
-- ARGV[4] window length in seconds (with KEYS[4])
-- ARGV[5] "1" when the event asks a first join for a challenge and none was
--         passed: someone neither waiting nor admitted gets "c" instead
-- ARGV[6] the sale's opening (unix seconds) for an event with a pre-queue, else absent
-- ARGV[7] with ARGV[6]: a new entry's drawn score (an integer below 2^52)
-- ARGV[8] with ARGV[6]: the new entry's id
-- ARGV[9] "0" only under the concurrency tests' debug switch: entries are
--         taken by the clock alone, even after the draw
-- Returns one flat string (cheapest reply to parse on the hot path):
--   "r" past the limit, "a <admitted_until>" when admitted, "c" when a
--   challenge is needed first, "x" when the new entry's score is taken,
--   "p <entry> <entrants> <created 0/1>" in the pre-queue, else
--   "w <rank, 0-based> <waiting_total> <created 0/1>". With a pre-queue,
--   "a" and "w" end with " <entry or -> <drew 0/1>" (drew: this join made the draw).
-- A rejoin burns one sequence number; gaps do not matter, only the order does.
local user = ARGV[1]
local prequeue = ARGV[6] ~= nil
local extra = prequeue and 3 or 0
if #KEYS == 4 + extra then
  local count = redis.call('INCR', KEYS[4])
  if count == 1 then
    redis.call('EXPIRE', KEYS[4], tonumber(ARGV[4]) + 1)
  end
  if count > tonumber(ARGV[3]) then
    return 'r'
  end
end
local entry = false
local drew = 0
local late = 0
if prequeue then
  local meta, entries, drawn_set = KEYS[#KEYS - 2], KEYS[#KEYS - 1], KEYS[#KEYS]
  entry = redis.call('HGET', entries, user)
  local drawn = ARGV[9] ~= '0' and redis.call('HEXISTS', meta, 'draw_at') == 1
  if not drawn and tonumber(ARGV[2]) < tonumber(ARGV[6]) then
    -- The pre-queue: an entry, waiting at its drawn place (not shown until the draw).
    if entry then
      return 'p ' .. entry .. ' ' .. redis.call('HLEN', entries) .. ' 0'
    end
    if ARGV[5] == '1' then
      return 'c'
    end
    if redis.call('ZCOUNT', drawn_set, ARGV[7], ARGV[7]) > 0 then
      return 'x'
    end
    redis.call('ZADD', KEYS[2], ARGV[7], user)
    redis.call('HSET', entries, user, ARGV[8])
    redis.call('ZADD', drawn_set, ARGV[7], ARGV[8])
    return 'p ' .. ARGV[8] .. ' ' .. redis.call('HLEN', entries) .. ' 1'
  end
  if not drawn and draw_start(meta, entries, ARGV[2], true) then
    drew = 1
  end
  late = 4503599627370496 -- 2^52: every later join waits behind every entry
end
local tail = ''
if prequeue then
  tail = ' ' .. (entry or '-') .. ' ' .. drew
end
local admitted_until = redis.call('ZSCORE', KEYS[3], user)
if admitted_until and tonumber(admitted_until) > tonumber(ARGV[2]) then
  return 'a ' .. admitted_until .. tail
end
if ARGV[5] == '1' and not redis.call('ZSCORE', KEYS[2], user) then
  return 'c'
end
if redis.call('ZADD', KEYS[2], 'NX', late + redis.call('INCR', KEYS[1]), user) == 1 then
  local total = redis.call('ZCARD', KEYS[2])
  return 'w ' .. (total - 1) .. ' ' .. total .. ' 1' .. tail
end
return 'w ' .. redis.call('ZRANK', KEYS[2], user) .. ' ' .. redis.call('ZCARD', KEYS[2]) .. ' 0' .. tail
