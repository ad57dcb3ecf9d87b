-- Counts a provider submission about to be made (delta 1) or one the provider
-- refused before creating a task (delta -1, for 429). A submission is not counted
-- while the account's breaker is open: nothing may be sent then.
-- KEYS: job, lease, breaker. ARGV: owner, delta, now.
-- Returns {count, ''}, {-1, ''} if the lease is not ours, or {-2, reason} if the
-- breaker is open.
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return {-1, ''} end
if tonumber(ARGV[2]) > 0 then
  local b = redis.call('HMGET', KEYS[3], 'since', 'reason')
  if b[1] then return {-2, b[2] or ''} end
end
local n = redis.call('HINCRBY', KEYS[1], 'attempts', ARGV[2])
redis.call('HSET', KEYS[1], 'updated_at', ARGV[3])
return {n, ''}
