-- The admission check of the booking side, which is also the person's
-- arrival: an admitted person who reaches the seat map (or holds a seat)
-- within the arrival window gets the rest of the full admission at once.
-- KEYS[1] q:{id}:active   zset user -> admission expiry (0 = ended)
-- KEYS[2] q:{id}:arrival  hash user -> full admission end, until they arrive
-- ARGV[1] user id
-- ARGV[2] now (unix seconds)
-- Returns the admission's end (a string) while admitted, else false.
local until_ = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not until_ or tonumber(until_) <= tonumber(ARGV[2]) then
  return false
end
local full = redis.call('HGET', KEYS[2], ARGV[1])
if full then
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('ZADD', KEYS[1], 'XX', full, ARGV[1])
  return full
end
return until_
