-- Helpers shared by fluxq's Redis scripts (prepended to each script).

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
-- counts it once in its batch's `total`. Returns 1 if created, 0 if it existed.
local function create_record(job, batch, now, provider, model, bname, metadata)
  if redis.call('EXISTS', job) == 1 then return 0 end
  redis.call('HSET', job, 'status', 'queued', 'attempts', '0', 'provider', provider,
    'model', model, 'batch', bname, 'created_at', now, 'updated_at', now)
  if metadata ~= '' then redis.call('HSET', job, 'metadata', metadata) end
  if bname ~= '' then
    if redis.call('EXISTS', batch) == 0 then
      redis.call('HSET', batch, 'total', 0, 'succeeded', 0, 'failed', 0, 'moderated', 0,
        'cost_micro_usd', 0, 'created_at', now)
    end
    redis.call('HINCRBY', batch, 'total', 1)
    redis.call('HDEL', batch, 'finished_at')
  end
  return 1
end
