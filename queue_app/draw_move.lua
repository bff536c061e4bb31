-- Move the next chunk of a started draw from the pre-queue into the waiting
-- set, in drawn order (the pre-queue's lexical order: every score is 0 and
-- each member starts with sha256(seed || entry) in hex), each entry on the
-- sequence number the start reserved for its place. Atomic per chunk, so
-- any number of runners may share the work, a crashed one is resumed by
-- the next, and no entry is placed or listed twice.
-- KEYS[1] q:{id}:pre        zset "<sha256 hex>:<entry>:<user>" -> 0
-- KEYS[2] q:{id}:entries    hash user -> "<sha256 hex>:<entry>", then "<entry>" once placed
-- KEYS[3] q:{id}:waiting    zset user -> seq
-- KEYS[4] q:{id}:meta       hash: draw_base, draw_listed
-- KEYS[5] q:{id}:drawn      string: the drawn entry ids, a JSON array's inside
-- KEYS[6] q:{id}:draw-left  set of users whose unplaced entry left meanwhile
-- ARGV[1] most entries to move in this call
-- Returns the entries still to move (0: the draw is done), -1 if not started.
local meta = redis.call('HMGET', KEYS[4], 'draw_base', 'draw_listed')
if not meta[1] then
  return -1
end
local base = tonumber(meta[1])
local listed = tonumber(meta[2] or '0')
local members = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #members == 0 then
  redis.call('DEL', KEYS[6])
  return 0
end
local check_left = redis.call('EXISTS', KEYS[6]) == 1
local first = redis.call('STRLEN', KEYS[5]) == 0
local placed, names, entries = {}, {}, {}
for i = 1, #members do
  local member = members[i]
  local cut = string.find(member, ':', 66, true)
  local entry = string.sub(member, 66, cut - 1)
  local user = string.sub(member, cut + 1)
  entries[i] = entry
  listed = listed + 1
  if not (check_left and redis.call('SISMEMBER', KEYS[6], user) == 1) then
    placed[#placed + 1] = base + listed
    placed[#placed + 1] = user
    names[#names + 1] = user
    names[#names + 1] = entry
  end
  if #placed >= 4000 then
    redis.call('ZADD', KEYS[3], 'NX', unpack(placed))
    redis.call('HSET', KEYS[2], unpack(names))
    placed, names = {}, {}
  end
end
if #placed > 0 then
  redis.call('ZADD', KEYS[3], 'NX', unpack(placed))
  redis.call('HSET', KEYS[2], unpack(names))
end
redis.call('APPEND', KEYS[5], (first and '"' or ',"') .. table.concat(entries, '","') .. '"')
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, #members - 1)
redis.call('HSET', KEYS[4], 'draw_listed', listed)
local left = redis.call('ZCARD', KEYS[1])
if left == 0 then
  redis.call('DEL', KEYS[6])
end
return left
