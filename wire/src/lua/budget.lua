-- Sets a batch's budget (`budget_micro_usd`): the gate admits a submission only if
-- its estimate fits in budget - cost - reserved - unconfirmed.
-- KEYS: batch, batch cancelled. ARGV: budget (micro-USD), create ('1': make the hash
-- if missing, for `producer submit --budget-usd` before its first job).
-- Returns {previous budget (-1: none), cancelled (1/0)}; {-2, 0} if no such batch.
if ARGV[2] ~= '1' and redis.call('HEXISTS', KEYS[1], 'total') == 0 then return {-2, 0} end
local old = tonumber(redis.call('HGET', KEYS[1], 'budget_micro_usd') or '-1') or -1
redis.call('HSET', KEYS[1], 'budget_micro_usd', ARGV[1])
return {old, redis.call('EXISTS', KEYS[2])}
