-- `producer cancel --job ID`: ends the job `cancelled` if it has no provider task and
-- no submission in flight; else marks it (`cancel_reason`) so the submit gate refuses
-- it if it comes back there (its task runs to the end and is paid for).
-- KEYS: job, batch, lease, events, failed set. ARGV: reason, now, batch name, id.
-- Returns {'cancelled'}, {'in_flight'}, {'final', status} or {'missing'}.
local j = redis.call('HMGET', KEYS[1], 'status', 'provider_task_id', 'submit_pending')
if not j[1] then return {'missing'} end
if is_final(j[1]) then return {'final', j[1]} end
if (j[2] and j[2] ~= '') or j[3] then
  redis.call('HSET', KEYS[1], 'cancel_reason', ARGV[1])
  return {'in_flight'}
end
cancel_record(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[2], ARGV[1], 'cancel', ARGV[3],
  ARGV[4])
return {'cancelled'}
