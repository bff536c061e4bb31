-- The draw, a function shared by draw_start.lua (the beat's draw),
-- queue_join.lua (the first join after the opening) and
-- admission_admit.lua (the first round): close the pre-queue and fix its
-- entrants, in the same atomic step as the caller's script. Every entry
-- already waits at its drawn place (its score is its draw key's first 52
-- bits, below every later join's 2^52 + seq), so closing is the whole draw:
-- after it no entry is taken and the order is final. ``once`` is false
-- only under the concurrency tests' debug switch. True when this call drew.
local function draw_start(meta_key, entries_key, now, once)
  if once and redis.call('HEXISTS', meta_key, 'draw_at') == 1 then
    return false
  end
  redis.call('HSET', meta_key, 'draw_at', now, 'draw_n', redis.call('HLEN', entries_key))
  redis.call('HINCRBY', meta_key, 'draw_starts', 1)
  return true
end
