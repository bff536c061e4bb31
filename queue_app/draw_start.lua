-- Make the draw of an event's pre-queue (draw_start_fn.lua), at most once.
-- KEYS[1] q:{id}:meta     hash: draw_at, draw_n, draw_starts
-- KEYS[2] q:{id}:entries  hash user -> entry id, the pre-queue's entries
-- ARGV[1] now (unix seconds)
-- ARGV[2] "1": only if not drawn yet; "0": the debug switch, draw regardless
-- Returns {1 if this call drew else 0, draw_at, draw_n}.
local drew = draw_start(KEYS[1], KEYS[2], ARGV[1], ARGV[2] == '1')
local meta = redis.call('HMGET', KEYS[1], 'draw_at', 'draw_n')
return {drew and 1 or 0, meta[1], meta[2]}
