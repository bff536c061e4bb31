-- Read one user's queue state and the round counters, atomically (so a
-- WebSocket consumer can apply later round messages on top of it).
-- KEYS[1] q:{id}:waiting  zset user -> seq
-- KEYS[2] q:{id}:active   zset user -> admission expiry (0 = ended)
-- KEYS[3] q:{id}:meta     hash: round, leaves, rate, seats_left, status (as of the last round), epoch, draw_*
-- KEYS[4] q:{id}:pre      zset "<sha256 hex>:<entry>:<user>" -> 0, the pre-queue
-- KEYS[5] q:{id}:entries  hash user -> "<sha256 hex>:<entry>" (in the pre-queue) or "<entry>" (placed)
-- ARGV[1] user id
-- ARGV[2] now (unix seconds)
-- ARGV[3] the sale's opening (unix seconds) for an event with a pre-queue, else "" (or absent)
-- Returns one flat string (cheapest reply to parse), "-" for a missing value:
-- "<state> <a> <waiting_total> <seq> <round> <leaves> <rate> <seats_left> <status> <epoch>"
-- where state is 1 admitted (a = admitted_until), 0 waiting (a = rank),
-- 2 expired, 3 not in queue, 4 in the pre-queue (waiting_total = entrants);
-- with a pre-queue it ends with " <entry or ->".
-- Before the draw has moved an entry, its rank and seq are those the draw
-- gives it (entries still to move count ahead of every later join).
local user = ARGV[1]
local meta = redis.call('HMGET', KEYS[3], 'round', 'leaves', 'rate', 'seats_left', 'status', 'epoch',
                        'draw_base', 'draw_n', 'draw_listed')
local tail = ''
for i = 1, 6 do
  tail = tail .. ' ' .. (meta[i] or '-')
end
local prequeue = ARGV[3] ~= nil and ARGV[3] ~= ''
local value = false
local unmoved = 0
if prequeue then
  value = redis.call('HGET', KEYS[5], user)
  local entry = '-'
  if value and #value > 64 then
    entry = string.sub(value, 66)
  elseif value then
    entry = value
  end
  tail = tail .. ' ' .. entry
  unmoved = redis.call('ZCARD', KEYS[4])
  if not meta[7] and tonumber(ARGV[2]) < tonumber(ARGV[3]) then
    return (value and '4' or '3') .. ' - ' .. unmoved .. ' -' .. tail
  end
end
local admitted_until = redis.call('ZSCORE', KEYS[2], user)
if admitted_until and tonumber(admitted_until) > tonumber(ARGV[2]) then
  return '1 ' .. admitted_until .. ' - -' .. tail
end
local total = redis.call('ZCARD', KEYS[1]) + unmoved
if value and #value > 64 then
  -- Drawn, not yet moved (or the draw not yet started).
  local drawn = redis.call('ZRANK', KEYS[4], value .. ':' .. user)
  if meta[7] then
    local rank = redis.call('ZCOUNT', KEYS[1], '-inf', tonumber(meta[7]) + tonumber(meta[8])) + drawn
    return '0 ' .. rank .. ' ' .. total .. ' ' .. (tonumber(meta[7]) + tonumber(meta[9]) + drawn + 1) .. tail
  end
  return '0 ' .. drawn .. ' ' .. total .. ' ' .. (drawn + 1) .. tail
end
local rank = redis.call('ZRANK', KEYS[1], user)
if rank then
  local seq = redis.call('ZSCORE', KEYS[1], user)
  if unmoved > 0 and (not meta[7] or tonumber(seq) > tonumber(meta[7]) + tonumber(meta[8])) then
    rank = rank + unmoved
  end
  return '0 ' .. rank .. ' ' .. total .. ' ' .. seq .. tail
end
if admitted_until then
  return '2 - ' .. total .. ' -' .. tail
end
return '3 - ' .. total .. ' -' .. tail
