-- Counts a provider submission about to be made (delta 1) or one the provider
-- refused before creating a task (delta -1, for 429). KEYS: job, lease.
-- ARGV: owner, delta, now. Returns the new count, or -1 if the lease is not ours.
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
local n = redis.call('HINCRBY', KEYS[1], 'attempts', ARGV[2])
redis.call('HSET', KEYS[1], 'updated_at', ARGV[3])
return n
