-- Counts a submit that was sent and whose answer was lost: the provider may have
-- accepted (and billed) it. Adds 1 to the job's `ambiguous_submits` and the submit's
-- price-table estimate to its `unconfirmed_cost_micro_usd`, and the same to the hash
-- of the batch in the job's record, whatever the job's status or lease: a submit
-- that may have been paid for is never left unrecorded. Once per token: the same
-- token again (a call retried after a lost reply whose first run did land) adds
-- nothing. Any provider's submit may call it.
-- KEYS: job, batch. ARGV: estimate (micro-USD), now, batch name, token.
-- Returns {count, the job's unconfirmed micro-USD}; {0, 0} if the record is missing.
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0} end
if redis.call('HGET', KEYS[1], 'ambiguous_token') ~= ARGV[4] then
  redis.call('HSET', KEYS[1], 'ambiguous_token', ARGV[4], 'updated_at', ARGV[2])
  redis.call('HINCRBY', KEYS[1], 'ambiguous_submits', 1)
  redis.call('HINCRBY', KEYS[1], 'unconfirmed_cost_micro_usd', ARGV[1])
  local b = redis.call('HGET', KEYS[1], 'batch') or ''
  if b ~= '' and b == ARGV[3] then
    redis.call('HINCRBY', KEYS[2], 'ambiguous_submits', 1)
    redis.call('HINCRBY', KEYS[2], 'unconfirmed_cost_micro_usd', ARGV[1])
  end
end
local r = redis.call('HMGET', KEYS[1], 'ambiguous_submits', 'unconfirmed_cost_micro_usd')
return {tonumber(r[1]) or 0, tonumber(r[2]) or 0}
