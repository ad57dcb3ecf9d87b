-- One round of a worker's slot bookkeeping, in one step: give back the slots its
-- jobs released, announce (or withdraw) that it has jobs waiting, and grant slots
-- to those jobs within the account's effective limit, outside its cool-down, and
-- within the worker's fair share while other workers wait too. Expired leases and
-- announcements are dropped first.
-- KEYS: slots (zset member -> lease expiry ms), state (hash), interactive waiters
-- (zset worker -> expiry ms), waiting workers (zset worker -> expiry ms).
-- ARGV: now ms, lease ms, configured maximum, mode ('force': grant every member even
-- over the limit, for tasks already running at the provider, announcing nothing;
-- 'interactive'; 'bulk': nothing while any worker has interactive jobs waiting),
-- the worker's id, slots it holds, interactive jobs it has waiting, jobs it has
-- waiting in all, how many members follow to give back, those members, then the
-- members wanted.
-- Fair share: the effective limit divided by the workers waiting for slots. A worker
-- holding its share or more gets nothing while others wait, except slots for its
-- interactive jobs.
-- Returns {granted, wait ms hint (cool-down left, 0 if none), share x 1000, other
-- workers waiting (1/0), other workers with interactive jobs waiting (1/0), effective
-- limit below the maximum (1/0)}.
local now = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
local max = tonumber(ARGV[3])
local mode = ARGV[4]
local worker = ARGV[5]
local held = tonumber(ARGV[6])
local interactive = tonumber(ARGV[7])
local waiting_here = tonumber(ARGV[8])
local n_release = tonumber(ARGV[9])
local first = 10 + n_release
local wanted = #ARGV - first + 1
for i = 10, first - 1, 1000 do
  redis.call('ZREM', KEYS[1], unpack(ARGV, i, math.min(i + 999, first - 1)))
end
local fleet_interactive = 0
if mode ~= 'force' then
  -- Announcements last 2 s: a worker that dies stops counting soon after.
  if interactive > 0 then
    redis.call('ZADD', KEYS[3], now + 2000, worker)
  else
    redis.call('ZREM', KEYS[3], worker)
  end
  if waiting_here > 0 then
    redis.call('ZADD', KEYS[4], now + 2000, worker)
  else
    redis.call('ZREM', KEYS[4], worker)
  end
  local others_interactive = redis.call('ZCOUNT', KEYS[3], now, '+inf')
  if interactive > 0 then others_interactive = others_interactive - 1 end
  if others_interactive > 0 then fleet_interactive = 1 end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
-- The configured maximum, in the state hash from the account's first round on: the
-- account is listed (`producer status`) before any 429 gave it a limit.
redis.call('HSET', KEYS[2], 'max', max)
local st = redis.call('HMGET', KEYS[2], 'limit', 'cooldown_until')
local limit = tonumber(st[1]) or max
if limit > max then limit = max end
local below_max = limit < max and 1 or 0
limit = math.floor(limit)
local cooldown = tonumber(st[2]) or 0
local waiting = redis.call('ZCARD', KEYS[4])
local me = redis.call('ZSCORE', KEYS[4], worker) and 1 or 0
local others = waiting - me
local share = limit / math.max(1, waiting)
local function reply(granted, wait)
  return {granted, wait, math.floor(share * 1000), others > 0 and 1 or 0, fleet_interactive,
    below_max}
end
if wanted <= 0 then return reply(0, 0) end
local grant
if mode == 'force' then
  grant = wanted
else
  if now < cooldown then return reply(0, cooldown - now) end
  if mode == 'bulk' and redis.call('ZCOUNT', KEYS[3], now, '+inf') > 0 then
    return reply(0, 0)
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
return reply(grant, 0)
