-- Start the draw of an event's pre-queue (draw_start_fn.lua), at most once.
-- KEYS[1] q:{id}:seq   INCR counter, the join sequence number
-- KEYS[2] q:{id}:meta  hash: draw_base, draw_n, draw_at, draw_listed, draw_starts
-- KEYS[3] q:{id}:pre   zset of the pre-queue's entries (every score 0)
-- ARGV[1] now (unix seconds)
-- ARGV[2] "1": only if not started yet; "0": the debug switch, start regardless
-- Returns {1 if this call started it else 0, draw_base, draw_n, draw_at}.
local started = draw_start(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2] == '1')
local meta = redis.call('HMGET', KEYS[2], 'draw_base', 'draw_n', 'draw_at')
return {started and 1 or 0, meta[1], meta[2], meta[3]}
