-- The one library of fluxq's Redis scripts: prepended to every script by
-- `fluxq_wire::lua::script`, so each rule of the job record is written once here.

-- Whether a status is final (`succeeded`, `failed`, `moderated`, `cancelled`): a
-- final job accepts no further change to its status, counters, cost or event.
local function is_final(st)
  return st == 'succeeded' or st == 'failed' or st == 'moderated' or st == 'cancelled'
end

-- Whether `owner` may act on a job whose lease is held by `holder` (the lease key's
-- value, or false when nobody holds it): nobody else holds it.
local function lease_is_ours(holder, owner)
  return (not holder) or holder == owner
end

-- Formats micro-USD as a decimal USD string without trailing zeros: 45000 -> "0.045".
local function fmt_usd(m)
  m = tonumber(m) or 0
  local whole = math.floor(m / 1000000)
  local frac = m - whole * 1000000
  if frac == 0 then return string.format('%d', whole) end
  local digits = string.gsub(string.format('%06d', frac), '0+$', '')
  return string.format('%d', whole) .. '.' .. digits
end

-- Creates a job's record as `queued` unless it exists; the first creation of a job id
-- counts it once in its batch's `total`, and keeps the message's fingerprint (the
-- job's identity: see claim.lua). Returns 1 if created, 0 if it existed.
-- `index` is the batch's jobs in the order they were recorded (sorted set, score =
-- place in the batch, 1-based) and `batches` every batch by when it began (Unix ms).
local function create_record(job, batch, index, batches, now, provider, model, bname,
                             metadata, fingerprint)
  if redis.call('EXISTS', job) == 1 then return 0 end
  redis.call('HSET', job, 'status', 'queued', 'attempts', '0', 'provider', provider,
    'model', model, 'batch', bname, 'created_at', now, 'updated_at', now)
  if metadata ~= '' then redis.call('HSET', job, 'metadata', metadata) end
  if fingerprint and fingerprint ~= '' then redis.call('HSET', job, 'fingerprint', fingerprint) end
  if bname ~= '' then
    -- A budget set before the first job (`producer submit --budget-usd`) makes the
    -- hash without its counters.
    if redis.call('HEXISTS', batch, 'total') == 0 then
      redis.call('HSET', batch, 'total', 0, 'succeeded', 0, 'failed', 0, 'moderated', 0,
        'cancelled', 0, 'cost_micro_usd', 0, 'reserved_micro_usd', 0, 'created_at', now)
    end
    local place = redis.call('HINCRBY', batch, 'total', 1)
    redis.call('HDEL', batch, 'finished_at')
    -- The job key ends in the job's id (Names::job_key).
    redis.call('ZADD', index, 'NX', place, string.sub(job, -36))
    if place == 1 then
      local t = redis.call('TIME')
      redis.call('ZADD', batches, 'NX', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), bname)
    end
  end
  return 1
end

-- Moves a job to a final status exactly once: the record, the batch counters and
-- cost, the failed set and the events stream change together or not at all.
-- Returns {1, micro-USD charged for the job} if it moved, {0} if the job was
-- already final, {-1} if another worker holds its lease.
local function finish_job(job, batch, lease, events, failed_set, owner, status, now,
                          err, image_url, image_path, bname, id)
  local st = redis.call('HGET', job, 'status')
  if is_final(st) then return {0} end
  local holder = redis.call('GET', lease)
  if not lease_is_ours(holder, owner) then return {-1} end
  local charged = redis.call('HGET', job, 'charged_micro_usd') or '0'
  local cost = fmt_usd(charged)
  -- The job's reservation (its pending submission and charges not yet in the batch's
  -- cost) is released: its charge is counted in the cost below instead.
  local reserved = tonumber(redis.call('HGET', job, 'reserved_micro_usd') or '0') or 0
  redis.call('HDEL', job, 'reserved_micro_usd', 'submit_pending')
  redis.call('HSET', job, 'status', status, 'updated_at', now, 'finished_at', now, 'cost_usd', cost)
  if err ~= '' then redis.call('HSET', job, 'error', err) end
  if image_url ~= '' then redis.call('HSET', job, 'image_url', image_url) end
  if image_path ~= '' then redis.call('HSET', job, 'image_path', image_path) end
  if bname ~= '' then
    redis.call('HINCRBY', batch, status, 1)
    redis.call('HINCRBY', batch, 'cost_micro_usd', charged)
    if reserved ~= 0 then redis.call('HINCRBY', batch, 'reserved_micro_usd', -reserved) end
    -- What the batch's cost holds for this job: a task recorded after the job became
    -- final adds to `charged_micro_usd` only, so `reopen` gives back this, not that.
    redis.call('HSET', job, 'counted_micro_usd', charged)
    if status == 'failed' then redis.call('SADD', failed_set, id) end
    local b = redis.call('HMGET', batch, 'total', 'succeeded', 'failed', 'moderated', 'cancelled')
    local done = (tonumber(b[2]) or 0) + (tonumber(b[3]) or 0) + (tonumber(b[4]) or 0)
      + (tonumber(b[5]) or 0)
    if done >= (tonumber(b[1]) or 0) then redis.call('HSET', batch, 'finished_at', now) end
  end
  redis.call('XADD', events, '*', 'id', id, 'batch', bname, 'status', status, 'cost_usd', cost,
    'image_url', image_url, 'image_path', image_path, 'error', err)
  if holder then redis.call('DEL', lease) end
  return {1, tonumber(charged)}
end

-- Money held for a job of a batch (`reserved_micro_usd`, on the job and summed on its
-- batch): the estimate of a submission that passed the gate (`submit_pending`) until
-- its charge is known, then its charges until the job is final and they are in the
-- batch's cost. A budget admits a submission only if its estimate fits in
-- budget - cost - reserved - unconfirmed.

-- The batch hash and name of the job's record ('' for a job in no batch): the key is
-- the job key's namespace (`{ns}:job:{id}`) and the record's batch.
local function batch_of(job)
  local b = redis.call('HGET', job, 'batch') or ''
  if b == '' then return '', '' end
  return string.sub(job, 1, #job - 41) .. ':batch:' .. b, b
end

-- Adds `delta` micro-USD to the job's reservation and its batch's.
local function reserve(job, batch, bname, delta)
  if delta == 0 then return end
  redis.call('HINCRBY', job, 'reserved_micro_usd', delta)
  if bname ~= '' then redis.call('HINCRBY', batch, 'reserved_micro_usd', delta) end
end

-- A submission that passed the gate ended without a task (refused, failed, answer
-- lost): its estimate is no longer held.
local function release_pending(job)
  local p = tonumber(redis.call('HGET', job, 'submit_pending') or '')
  if not p then return end
  redis.call('HDEL', job, 'submit_pending')
  local batch, bname = batch_of(job)
  reserve(job, batch, bname, -p)
end

-- Ends an open job `cancelled` (finish_job, whoever holds the lease) with `error`
-- "cancelled: <reason>"; `kind` ('cancel' or 'budget') is kept in `cancel_kind`, so
-- a raised budget reopens only the jobs it refused. Returns as finish_job does.
local function cancel_record(job, batch, lease, events, failed_set, now, reason, kind, bname, id)
  local holder = redis.call('GET', lease)
  local r = finish_job(job, batch, lease, events, failed_set, holder or '', 'cancelled', now,
    'cancelled: ' .. reason, '', '', bname, id)
  if r[1] == 1 then redis.call('HSET', job, 'cancel_kind', kind) end
  return r
end

-- Reopens a `cancelled` job (`queued`): its batch's `cancelled` count goes back, and
-- what its final write added to the batch's cost (charges of earlier submissions)
-- becomes its reservation again. Returns 1 if reopened, 0 if it was not cancelled.
local function reopen_cancelled(job, batch, bname, now)
  if redis.call('HGET', job, 'status') ~= 'cancelled' then return 0 end
  local counted = tonumber(redis.call('HGET', job, 'counted_micro_usd') or '0') or 0
  redis.call('HSET', job, 'status', 'queued', 'updated_at', now)
  redis.call('HDEL', job, 'finished_at', 'error', 'counted_micro_usd', 'cancel_kind',
    'cancel_reason')
  if bname ~= '' then
    redis.call('HINCRBY', batch, 'cancelled', -1)
    if counted > 0 then redis.call('HINCRBY', batch, 'cost_micro_usd', -counted) end
    redis.call('HDEL', batch, 'finished_at')
  end
  reserve(job, batch, bname, counted)
  return 1
end
