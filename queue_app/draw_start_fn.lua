-- The draw's start, a function shared by draw_start.lua (the beat's draw)
-- and queue_join.lua (the first join after the opening, when it comes
-- before the beat): freeze the pre-queue and reserve one sequence number per
-- entry, all below every later join's, in the same atomic step as the
-- caller's script. ``once`` is false only under the concurrency tests'
-- debug switch (start again even if started). True when this call started it.
local function draw_start(seq_key, meta_key, pre_key, now, once)
  if once and redis.call('HEXISTS', meta_key, 'draw_base') == 1 then
    return false
  end
  local n = redis.call('ZCARD', pre_key)
  local top = redis.call('INCRBY', seq_key, n)
  redis.call('HSET', meta_key, 'draw_base', top - n, 'draw_n', n, 'draw_at', now, 'draw_listed', 0)
  redis.call('HINCRBY', meta_key, 'draw_starts', 1)
  return true
end
