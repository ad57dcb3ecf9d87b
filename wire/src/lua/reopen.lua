-- Reopens a failed job for a replay, once: status back to queued, attempts to 0, the
-- batch's failed counter and the cost its final write added (`counted_micro_usd`)
-- given back (the job's charges are added again, with any new ones, when it
-- finishes). A record failed before `counted_micro_usd` was written gives back its
-- charge. KEYS: job, batch, failed set. ARGV: now, id.
-- Returns 1 if reopened, 0 if the job was not failed (nothing to undo).
local st = redis.call('HGET', KEYS[1], 'status')
if st ~= 'failed' then return 0 end
local b = redis.call('HGET', KEYS[1], 'batch') or ''
local counted = redis.call('HGET', KEYS[1], 'counted_micro_usd')
  or redis.call('HGET', KEYS[1], 'charged_micro_usd') or '0'
counted = tonumber(counted) or 0
redis.call('HSET', KEYS[1], 'status', 'queued', 'attempts', '0', 'updated_at', ARGV[1])
redis.call('HDEL', KEYS[1], 'finished_at', 'provider_task_id', 'polling_url', 'error',
  'counted_micro_usd')
if b ~= '' then
  redis.call('HINCRBY', KEYS[2], 'failed', -1)
  if counted > 0 then redis.call('HINCRBY', KEYS[2], 'cost_micro_usd', -counted) end
  redis.call('HDEL', KEYS[2], 'finished_at')
  redis.call('SREM', KEYS[3], ARGV[2])
end
return 1
