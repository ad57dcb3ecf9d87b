-- The daily budget's gate before a submit: reserves the job's price-table estimate
-- against the account's budget for the UTC day, or, when it does not fit, opens the
-- account's breaker (jobs wait in RabbitMQ, as for a 402) and refuses.
-- The budget is the override `producer daily-budget` set, else the worker's
-- FLUXQ_DAILY_BUDGET_USD (published in the limiter state as `daily_budget_micro_usd`
-- for `producer status`); 0 means none, and the reservation is still kept so that a
-- budget set later counts the jobs in flight.
-- Reservations are job id -> '{micro-USD}:{expiry ms}': one per job (a job has at most
-- one task in flight), replaced by the real charge (daily_charge.lua); expired ones
-- (a job that never came back) are dropped here.
-- KEYS: spend today, reservations, breaker, budget override, limiter state.
-- ARGV: job id, estimate, configured budget, now ms, reservation ttl ms, now RFC 3339,
--       today (YYYY-MM-DD).
-- Returns {1, ''} reserved, {0, reason} refused (the breaker is open with reason), or
-- {-1, reason} when the breaker is open for another reason (402, 403): nothing is
-- reserved, that breaker stays as it is (its probe, not the budget, closes it).
local open = redis.call('HMGET', KEYS[3], 'since', 'daily_budget_day', 'reason')
if open[1] and not open[2] then return {-1, open[3] or ''} end
local configured = tonumber(ARGV[3]) or 0
redis.call('HSET', KEYS[5], 'daily_budget_micro_usd', configured)
local cap = tonumber(redis.call('GET', KEYS[4]) or configured) or configured
local now = tonumber(ARGV[4])
local need = tonumber(ARGV[2])
local reserved = 0
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all, 2 do
  local amount, expiry = string.match(all[i + 1], '^(%d+):(%d+)$')
  if (not amount) or tonumber(expiry) <= now then
    redis.call('HDEL', KEYS[2], all[i])
  elseif all[i] ~= ARGV[1] then
    reserved = reserved + tonumber(amount)
  end
end
if cap > 0 then
  local spent = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
  if spent + reserved + need > cap then
    local reason = 'daily budget of ' .. fmt_usd(cap) .. ' USD reached'
    redis.call('HSETNX', KEYS[3], 'since', ARGV[6])
    redis.call('HSET', KEYS[3], 'reason', reason, 'daily_budget_day', ARGV[7],
      'daily_budget_need', need)
    return {0, reason}
  end
end
redis.call('HSET', KEYS[2], ARGV[1], need .. ':' .. (now + tonumber(ARGV[5])))
return {1, ''}
