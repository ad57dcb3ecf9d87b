-- A job's charge is known (or its task ended without one): its reservation against
-- the daily budget is dropped and the charge added to the day's spend, in one step,
-- so spend + reservations never dips below what is owed. Called only for a charge
-- the job's record counted now (once per task), or with 0 to release.
-- KEYS: spend today, reservations. ARGV: job id, charge (micro-USD), spend key ttl s.
-- Returns the day's spend.
redis.call('HDEL', KEYS[2], ARGV[1])
local c = tonumber(ARGV[2]) or 0
if c > 0 then
  local s = redis.call('INCRBY', KEYS[1], c)
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  return s
end
return tonumber(redis.call('GET', KEYS[1]) or '0') or 0
