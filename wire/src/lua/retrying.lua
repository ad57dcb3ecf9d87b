-- Marks a job as waiting for another attempt and frees its lease.
-- KEYS: job, lease. ARGV: owner, error, now, keep task ('1' keeps provider_task_id
-- so the next delivery resumes polling it). A submission in flight without a task
-- releases its reservation. Returns 1, 0 if final, -1 if not ours.
local st = redis.call('HGET', KEYS[1], 'status')
if is_final(st) then return 0 end
local holder = redis.call('GET', KEYS[2])
if not lease_is_ours(holder, ARGV[1]) then return -1 end
release_pending(KEYS[1])
redis.call('HSET', KEYS[1], 'status', 'retrying', 'error', ARGV[2], 'updated_at', ARGV[3])
if ARGV[4] ~= '1' then redis.call('HDEL', KEYS[1], 'provider_task_id', 'polling_url') end
if holder then redis.call('DEL', KEYS[2]) end
return 1
