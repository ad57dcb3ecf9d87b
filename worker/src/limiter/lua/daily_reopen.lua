-- Closes an account's breaker opened by its daily budget once the budget has room
-- again: a new UTC day, the budget removed, or raised (or charges below their
-- estimates) so that the refused estimate fits. A breaker opened for another reason
-- (402, 403) is left to the provider probe.
-- KEYS: breaker, spend today, reservations, budget override.
-- ARGV: configured budget, now ms, today.
-- Returns -1 (not a daily-budget breaker, or closed), 0 (still no room), 1 (closed now).
local b = redis.call('HMGET', KEYS[1], 'since', 'daily_budget_day', 'daily_budget_need')
if not b[1] or not b[2] then return -1 end
local cap = tonumber(redis.call('GET', KEYS[4]) or ARGV[1]) or 0
local room = b[2] ~= ARGV[3] or cap <= 0
if not room then
  local reserved = 0
  local all = redis.call('HGETALL', KEYS[3])
  for i = 1, #all, 2 do
    local amount, expiry = string.match(all[i + 1], '^(%d+):(%d+)$')
    if amount and tonumber(expiry) > tonumber(ARGV[2]) then reserved = reserved + tonumber(amount) end
  end
  local spent = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
  room = spent + reserved + (tonumber(b[3]) or 0) <= cap
end
if room then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
