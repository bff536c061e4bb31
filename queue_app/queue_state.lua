-- Read one user's queue state and the round counters, atomically (so a
-- WebSocket consumer can apply later round messages on top of it).
-- KEYS[1] q:{id}:waiting  zset user -> seq
-- KEYS[2] q:{id}:active   zset user -> admission expiry (0 = ended)
-- KEYS[3] q:{id}:meta     hash: round, leaves, rate, seats_left, status (as of the last round), epoch, draw_at
-- KEYS[4] q:{id}:entries  hash user -> pre-queue entry id (events with a pre-queue only)
-- ARGV[1] user id
-- ARGV[2] now (unix seconds)
-- ARGV[3] the sale's opening (unix seconds) for an event with a pre-queue, else absent
-- Returns one flat string (cheapest reply to parse), "-" for a missing value:
-- "<state> <a> <waiting_total> <seq> <round> <leaves> <rate> <seats_left> <status> <epoch>"
-- where state is 1 admitted (a = admitted_until), 0 waiting (a = rank),
-- 2 expired, 3 not in queue, 4 in the pre-queue (waiting_total = entrants);
-- with a pre-queue it ends with " <entry or ->". Before the draw nobody's
-- place is told (the pre-queue's entries wait at their drawn places).
local user = ARGV[1]
local meta = redis.call('HMGET', KEYS[3], 'round', 'leaves', 'rate', 'seats_left', 'status', 'epoch')
local tail = ''
for i = 1, 6 do
  tail = tail .. ' ' .. (meta[i] or '-')
end
if ARGV[3] then
  local entry = redis.call('HGET', KEYS[4], user)
  tail = tail .. ' ' .. (entry or '-')
  if tonumber(ARGV[2]) < tonumber(ARGV[3]) and redis.call('HEXISTS', KEYS[3], 'draw_at') == 0 then
    return (entry and '4' or '3') .. ' - ' .. redis.call('HLEN', KEYS[4]) .. ' -' .. tail
  end
end
local admitted_until = redis.call('ZSCORE', KEYS[2], user)
if admitted_until and tonumber(admitted_until) > tonumber(ARGV[2]) then
  return '1 ' .. admitted_until .. ' - -' .. tail
end
local total = redis.call('ZCARD', KEYS[1])
local rank = redis.call('ZRANK', KEYS[1], user)
if rank then
  return '0 ' .. rank .. ' ' .. total .. ' ' .. redis.call('ZSCORE', KEYS[1], user) .. tail
end
if admitted_until then
  return '2 - ' .. total .. ' -' .. tail
end
return '3 - ' .. total .. ' -' .. tail
