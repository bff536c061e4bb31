-- One admission round for one event: when the interval has passed, move
-- min(max_n, cap - admitted) people from the head of the waiting set to the
-- active set, update the measured admission rate (EWMA), bump the round
-- counter and collect the departures logged since the last round.
-- KEYS[1] q:{id}:waiting  zset user -> seq
-- KEYS[2] q:{id}:active   zset user -> admission expiry (0 = ended)
-- KEYS[3] q:{id}:meta     hash: round, leaves, rate, last_due, seats_left, status, left_overflow
-- KEYS[4] q:{id}:left     list of "ordinal:seq" since the last round
-- KEYS[5] q:{id}:arrival  hash user -> full admission end, until they arrive
-- KEYS[6] q:{id}:entries  hash user -> pre-queue entry id (only for an event
--         with a pre-queue: the round makes the draw first if nobody has)
-- ARGV[1] now (unix seconds)
-- ARGV[2] admitted_until for this batch (unix seconds): the arrival deadline
--         when ARGV[10] is set
-- ARGV[3] max_n: most to admit (batch and seat bound); -1 admits nobody (paused, sold out)
-- ARGV[4] cap: most admitted at once
-- ARGV[5] interval seconds between admissions
-- ARGV[6] EWMA weight of the newest rate sample (0..1)
-- ARGV[7] seats_left after this round's admissions are served, before admitting ("" = unknown)
-- ARGV[8] the sale's public status this round (on_sale, paused, sold_out, closed)
-- ARGV[9] a fresh random epoch, kept only if the meta hash has none: the
--         epoch changes exactly when the queue's keys are made anew (Redis
--         lost its data), so sockets can tell a reset from a missed round
-- ARGV[10] the full admission's end, kept per person until they arrive
--         (admission_arrive.lua), or "" when there is no arrival window
-- Returns {round, admitted ids (one comma-separated string: one reply to
--          parse instead of a thousand), head seq, waiting_total,
--          admitted_total, rate ("" = no history), leaves, left entries,
--          overflow (0/1), seats_left, epoch}.
local now = tonumber(ARGV[1])
local max_n = tonumber(ARGV[3])
if #KEYS == 6 then
  draw_start(KEYS[3], KEYS[6], ARGV[1], true)
end
local cap = tonumber(ARGV[4])
local interval = tonumber(ARGV[5])
local alpha = tonumber(ARGV[6])
local meta = redis.call('HMGET', KEYS[3], 'last_due', 'rate')
local last_due = tonumber(meta[1] or '0')
local rate = meta[2]
local admitted = {}
local head = 0
local seats_left = ARGV[7]
if max_n >= 0 and now - last_due >= interval then
  local waiting_before = redis.call('ZCARD', KEYS[1])
  local live = redis.call('ZCOUNT', KEYS[2], '(' .. ARGV[1], '+inf')
  local n = math.min(max_n, cap - live)
  if n > 0 and waiting_before > 0 then
    local popped = redis.call('ZPOPMIN', KEYS[1], n)
    local args = {}
    local full = {}
    for i = 1, #popped, 2 do
      admitted[#admitted + 1] = popped[i]
      args[#args + 1] = ARGV[2]
      args[#args + 1] = popped[i]
      if ARGV[10] ~= '' then
        full[#full + 1] = popped[i]
        full[#full + 1] = ARGV[10]
      end
      if #args >= 2000 then
        redis.call('ZADD', KEYS[2], unpack(args))
        args = {}
      end
      if #full >= 2000 then
        redis.call('HSET', KEYS[5], unpack(full))
        full = {}
      end
    end
    if #args > 0 then
      redis.call('ZADD', KEYS[2], unpack(args))
    end
    if #full > 0 then
      redis.call('HSET', KEYS[5], unpack(full))
    end
    head = popped[#popped]
  end
  if waiting_before > 0 and last_due > 0 then
    -- A pause or an idle queue must not read as a slow rate: cap the gap.
    local elapsed = math.min(now - last_due, 2 * interval)
    local sample = #admitted / elapsed
    if rate then
      rate = alpha * sample + (1 - alpha) * tonumber(rate)
    else
      rate = sample
    end
    rate = tostring(rate)
    redis.call('HSET', KEYS[3], 'rate', rate)
  end
  redis.call('HSET', KEYS[3], 'last_due', ARGV[1])
  if seats_left ~= '' then
    seats_left = tostring(math.max(0, tonumber(seats_left) - #admitted))
  end
end
if seats_left ~= '' then
  redis.call('HSET', KEYS[3], 'seats_left', seats_left)
else
  redis.call('HDEL', KEYS[3], 'seats_left')
end
redis.call('HSET', KEYS[3], 'status', ARGV[8])
redis.call('HSETNX', KEYS[3], 'epoch', ARGV[9])
local round = redis.call('HINCRBY', KEYS[3], 'round', 1)
local left = redis.call('LRANGE', KEYS[4], 0, -1)
redis.call('DEL', KEYS[4])
local extra = redis.call('HMGET', KEYS[3], 'leaves', 'left_overflow')
local overflow = 0
if extra[2] then
  overflow = 1
  redis.call('HDEL', KEYS[3], 'left_overflow')
end
return {round, table.concat(admitted, ','), head, redis.call('ZCARD', KEYS[1]), redis.call('ZCOUNT', KEYS[2], '(' .. ARGV[1], '+inf'),
        rate or '', extra[1] or '0', left, overflow, seats_left, redis.call('HGET', KEYS[3], 'epoch')}
