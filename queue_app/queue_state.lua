-- Read one user's queue state and the round counters, atomically (so a
-- WebSocket consumer can apply later round messages on top of it).
-- KEYS[1] q:{id}:waiting  zset user -> seq
-- KEYS[2] q:{id}:active   zset user -> admission expiry (0 = ended)
-- KEYS[3] q:{id}:meta     hash: round, leaves, rate, seats_left, status (as of the last round), epoch
-- ARGV[1] user id
-- ARGV[2] now (unix seconds)
-- Returns one flat string (cheapest reply to parse), "-" for a missing value:
-- "<state> <a> <waiting_total> <seq> <round> <leaves> <rate> <seats_left> <status> <epoch>"
-- where state is 1 admitted (a = admitted_until), 0 waiting (a = rank),
-- 2 expired, 3 not in queue.
local user = ARGV[1]
local meta = redis.call('HMGET', KEYS[3], 'round', 'leaves', 'rate', 'seats_left', 'status', 'epoch')
local tail = ''
for i = 1, 6 do
  tail = tail .. ' ' .. (meta[i] or '-')
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
