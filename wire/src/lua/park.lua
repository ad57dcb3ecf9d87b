-- Keeps the message of a `cancelled` job (its delivery is then acknowledged) so a
-- resume can publish it again. Checked with the status in one step: a job resumed
-- meanwhile is not parked, and its delivery is handed back to run.
-- KEYS: job, parked. ARGV: body, lane. Returns 'parked' or the job's status ('' if
-- no record).
local st = redis.call('HGET', KEYS[1], 'status') or ''
if st ~= 'cancelled' then return st end
redis.call('HSET', KEYS[2], 'body', ARGV[1], 'lane', ARGV[2])
return 'parked'
