-- The gate before every provider submission: counts it (delta 1) only if it may be
-- sent now, or takes back one the provider refused before creating a task (delta -1,
-- for 429 and 402/403).
-- A submission may be sent when the job is not final, no other execution holds its
-- lease, no provider task is recorded for it (one recorded by an execution whose
-- lease lapsed is resumed, never paid for again), and the account's breaker is
-- closed. A lease that lapsed (Redis was unreachable longer than the lease) and that
-- nobody took is taken again, as a renewal would.
-- KEYS: job, lease, breaker. ARGV: owner, delta, now, lease ms.
-- Returns {count, ''}, {-1, ''} if another execution holds the lease, {-2, reason} if
-- the breaker is open, {-3, status} if the job is final, {-4, task id} if a task is
-- recorded.
local holder = redis.call('GET', KEYS[2])
if not lease_is_ours(holder, ARGV[1]) then return {-1, ''} end
if tonumber(ARGV[2]) > 0 then
  local job = redis.call('HMGET', KEYS[1], 'status', 'provider_task_id')
  if is_final(job[1]) then return {-3, job[1]} end
  if job[2] and job[2] ~= '' then return {-4, job[2]} end
  local b = redis.call('HMGET', KEYS[3], 'since', 'reason')
  if b[1] then return {-2, b[2] or ''} end
  if not holder then redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[4]) end
end
local n = redis.call('HINCRBY', KEYS[1], 'attempts', ARGV[2])
redis.call('HSET', KEYS[1], 'updated_at', ARGV[3])
return {n, ''}
