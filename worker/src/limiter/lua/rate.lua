-- GCRA rate limiter: at most ARGV[2] requests per second with a burst of ARGV[3].
-- KEYS: the limiter's key (theoretical arrival time, ms). ARGV: now ms, rate, burst.
-- Returns 0 if the request may go now, else how many ms to wait before asking again.
local now = tonumber(ARGV[1])
local interval = 1000 / tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now) or now
if tat < now then tat = now end
local allow_at = tat - interval * burst
if now < allow_at then return math.ceil(allow_at - now) end
local new_tat = tat + interval
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil(new_tat - now + interval * burst) + 1000)
return 0
