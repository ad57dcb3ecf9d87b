-- Moves a job to a final status exactly once: the record, the batch counters and
-- cost, the failed set and the events stream change together or not at all.
-- Returns {1, micro-USD charged for the job} if it moved, {0} if the job was
-- already final, {-1} if another worker holds its lease.
local function finish_job(job, batch, lease, events, failed_set, owner, status, now,
                          err, image_url, image_path, bname, id)
  local st = redis.call('HGET', job, 'status')
  if st == 'succeeded' or st == 'failed' or st == 'moderated' then return {0} end
  local holder = redis.call('GET', lease)
  if holder and holder ~= owner then return {-1} end
  local charged = redis.call('HGET', job, 'charged_micro_usd') or '0'
  local cost = fmt_usd(charged)
  redis.call('HSET', job, 'status', status, 'updated_at', now, 'finished_at', now, 'cost_usd', cost)
  if err ~= '' then redis.call('HSET', job, 'error', err) end
  if image_url ~= '' then redis.call('HSET', job, 'image_url', image_url) end
  if image_path ~= '' then redis.call('HSET', job, 'image_path', image_path) end
  if bname ~= '' then
    redis.call('HINCRBY', batch, status, 1)
    redis.call('HINCRBY', batch, 'cost_micro_usd', charged)
    if status == 'failed' then redis.call('SADD', failed_set, id) end
    local b = redis.call('HMGET', batch, 'total', 'succeeded', 'failed', 'moderated')
    local done = (tonumber(b[2]) or 0) + (tonumber(b[3]) or 0) + (tonumber(b[4]) or 0)
    if done >= (tonumber(b[1]) or 0) then redis.call('HSET', batch, 'finished_at', now) end
  end
  redis.call('XADD', events, '*', 'id', id, 'batch', bname, 'status', status, 'cost_usd', cost,
    'image_url', image_url, 'image_path', image_path, 'error', err)
  if holder then redis.call('DEL', lease) end
  return {1, tonumber(charged)}
end
