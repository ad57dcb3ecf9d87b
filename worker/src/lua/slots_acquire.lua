-- Grants provider slots to a worker's waiting jobs, within the account's effective
-- limit, outside its cool-down, and within the worker's fair share while other
-- workers wait too. Expired leases and announcements are dropped first.
-- KEYS: slots (zset member -> lease expiry ms), state (hash), interactive waiters
-- (zset worker -> expiry ms), waiting workers (zset worker -> expiry ms).
-- ARGV: now ms, lease ms, configured maximum, mode ('force': grant every member even
-- over the limit, for tasks already running at the provider; 'interactive'; 'bulk':
-- nothing while any worker has interactive jobs waiting), the worker's id, slots it
-- holds, interactive jobs it has waiting, members...
-- Fair share: the effective limit divided by the workers waiting for slots. A worker
-- holding its share or more gets nothing while others wait, except slots for its
-- interactive jobs.
-- Returns {granted, wait ms hint (cool-down left, 0 if none), share x 1000, other
-- workers waiting (1/0)}.
local now = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
local max = tonumber(ARGV[3])
local mode = ARGV[4]
local worker = ARGV[5]
local held = tonumber(ARGV[6])
local interactive = tonumber(ARGV[7])
local first = 8
local wanted = #ARGV - first + 1
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
local st = redis.call('HMGET', KEYS[2], 'limit', 'cooldown_until')
local limit = tonumber(st[1]) or max
if limit > max then limit = max end
limit = math.floor(limit)
local cooldown = tonumber(st[2]) or 0
local waiting = redis.call('ZCARD', KEYS[4])
local me = redis.call('ZSCORE', KEYS[4], worker) and 1 or 0
local others = waiting - me
local share = limit / math.max(1, waiting)
local grant
if mode == 'force' then
  grant = wanted
else
  if now < cooldown then return {0, cooldown - now, math.floor(share * 1000), others > 0 and 1 or 0} end
  if mode == 'bulk' and redis.call('ZCOUNT', KEYS[3], now, '+inf') > 0 then
    return {0, 0, math.floor(share * 1000), others > 0 and 1 or 0}
  end
  local free = limit - redis.call('ZCARD', KEYS[1])
  grant = math.min(math.max(free, 0), wanted)
  if others > 0 then
    local fair = math.max(math.ceil(share) - held, 0)
    if mode == 'interactive' then fair = math.max(fair, interactive) end
    grant = math.min(grant, fair)
  end
end
for i = 1, grant do
  redis.call('ZADD', KEYS[1], now + lease, ARGV[first + i - 1])
end
return {grant, 0, math.floor(share * 1000), others > 0 and 1 or 0}
