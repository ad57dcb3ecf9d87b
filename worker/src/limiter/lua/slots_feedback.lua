-- The provider's answer to a submit adapts the fleet's effective limit (AIMD):
-- accepted: limit + 1/limit (about +1 per round of accepted submits), up to the maximum;
-- throttled (429): limit x 0.7 (at least 1) and a shared cool-down of ARGV[4] ms.
-- KEYS: state. ARGV: now ms, maximum, 'ok' | 'throttled', cool-down ms.
-- Returns the new limit (as a string: Lua numbers are floats).
local now = tonumber(ARGV[1])
local max = tonumber(ARGV[2])
local limit = tonumber(redis.call('HGET', KEYS[1], 'limit') or max) or max
if limit > max then limit = max end
if ARGV[3] == 'ok' then
  limit = math.min(max, limit + 1 / limit)
else
  limit = math.max(1, limit * 0.7)
  local until_ms = now + tonumber(ARGV[4])
  local cur = tonumber(redis.call('HGET', KEYS[1], 'cooldown_until') or 0) or 0
  if until_ms > cur then redis.call('HSET', KEYS[1], 'cooldown_until', until_ms) end
  redis.call('HINCRBY', KEYS[1], 'throttled', 1)
end
redis.call('HSET', KEYS[1], 'limit', tostring(limit), 'max', max)
return tostring(limit)
