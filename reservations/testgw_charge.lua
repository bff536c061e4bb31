-- The test gateway's capture in one round trip (reservations.payments.TestGateway).
-- KEYS[1]  testgw:charges  hash: idempotency key -> the charge (JSON)
-- KEYS[2]  testgw:outage   set: the calls failing as unavailable now
-- ARGV[1]  the idempotency key
-- ARGV[2]  the charge to record when the key has none yet (JSON)
-- Returns the charge stored under the key (the first one recorded: a
-- replayed key captures nothing twice), or false while `charge` is out.
if redis.call('SISMEMBER', KEYS[2], 'charge') == 1 then
    return false
end
redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
return redis.call('HGET', KEYS[1], ARGV[1])
