-- Forget a user's waiting-page socket claim, unless a newer socket has it.
-- KEYS[1] q:{id}:sock:<user>  the connection id of the user's socket
-- ARGV[1] the connection id that closed
-- Returns 1 when the claim was this connection's and is gone, else 0.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
