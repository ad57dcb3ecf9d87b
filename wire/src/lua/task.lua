-- Records a task the provider accepted, and its charge, once per task id. Runs
-- whoever holds the lease: a paid task must never go unrecorded.
-- KEYS: job. ARGV: task id, polling url, charge (micro-USD), now, charge error ('' for
-- none: the reported charge was invalid and ARGV[3] is the estimate recorded in its
-- place; kept in `charge_error`). Returns 1 or 0.
-- On an open job the charge replaces the pending submission's reservation (lib.lua).
if redis.call('HGET', KEYS[1], 'provider_task_id') == ARGV[1] then return 0 end
if not is_final(redis.call('HGET', KEYS[1], 'status')) then
  local p = tonumber(redis.call('HGET', KEYS[1], 'submit_pending') or '0') or 0
  redis.call('HDEL', KEYS[1], 'submit_pending')
  local batch, bname = batch_of(KEYS[1])
  reserve(KEYS[1], batch, bname, (tonumber(ARGV[3]) or 0) - p)
end
redis.call('HSET', KEYS[1], 'provider_task_id', ARGV[1], 'polling_url', ARGV[2],
  'submitted_at', ARGV[4], 'updated_at', ARGV[4])
local c = redis.call('HINCRBY', KEYS[1], 'charged_micro_usd', ARGV[3])
redis.call('HSET', KEYS[1], 'cost_usd', fmt_usd(c))
if ARGV[5] and ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'charge_error', ARGV[5]) end
return 1
