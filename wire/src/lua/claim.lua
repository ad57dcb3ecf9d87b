-- Claims a job for one execution. KEYS: job, batch, lease, batch jobs, batches.
-- ARGV: now, provider, model, batch name, metadata, owner, lease ms, fingerprint,
-- params (the prompt and parameters, kept from the first valid message).
-- Returns {'final', status} | {'busy'} | {'claimed', attempts, task id, polling url}
-- | {'conflict', batch of the record}: a job's identity is its first valid message,
-- so a message that reuses the id with other fields (another batch, prompt, size)
-- moves nothing; a record without a fingerprint (written before fingerprints, or by
-- `reject`) takes this one if it is in the same batch (the batch of a job is the one
-- in its record).
create_record(KEYS[1], KEYS[2], KEYS[4], KEYS[5], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[8])
local rec = redis.call('HMGET', KEYS[1], 'fingerprint', 'batch')
if ARGV[8] ~= '' then
  if not rec[1] then
    if (rec[2] or '') ~= ARGV[4] then return {'conflict', rec[2] or ''} end
    redis.call('HSET', KEYS[1], 'fingerprint', ARGV[8])
  elseif rec[1] ~= ARGV[8] then
    return {'conflict', rec[2] or ''}
  end
end
if ARGV[9] and ARGV[9] ~= '' then redis.call('HSETNX', KEYS[1], 'params', ARGV[9]) end
local st = redis.call('HGET', KEYS[1], 'status')
if is_final(st) then return {'final', st} end
local holder = redis.call('GET', KEYS[3])
if not lease_is_ours(holder, ARGV[6]) then return {'busy'} end
redis.call('SET', KEYS[3], ARGV[6], 'PX', ARGV[7])
redis.call('HSET', KEYS[1], 'status', 'running', 'updated_at', ARGV[1])
local r = redis.call('HMGET', KEYS[1], 'attempts', 'provider_task_id', 'polling_url')
return {'claimed', r[1] or '0', r[2] or '', r[3] or ''}
