-- Records a delivery attempt on the job, if the taker still holds its claim (the
-- due score is its claim score) and the delivery is still for the same entry.
-- KEYS: job, due set. ARGV: job id, claim score, entry id, outcome, now (RFC 3339),
-- next due ms, error. Outcomes: `delivered`; `retry` (due again at next due ms);
-- `failed` (given up); `refused` (not sent: the URL is not allowed); `drop` (nothing
-- to deliver). Returns 1 if recorded, 0 if the claim was lost.
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if (not score) or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
local outcome = ARGV[4]
if outcome == 'drop' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 1
end
if redis.call('HGET', KEYS[1], 'callback_event') ~= ARGV[3] then return 0 end
if outcome ~= 'refused' then
  redis.call('HINCRBY', KEYS[1], 'callback_attempts', 1)
  redis.call('HSET', KEYS[1], 'callback_last_at', ARGV[5])
end
if outcome == 'delivered' then
  redis.call('HSET', KEYS[1], 'callback_status', 'delivered', 'callback_delivered_at', ARGV[5])
  redis.call('HDEL', KEYS[1], 'callback_last_error')
  redis.call('ZREM', KEYS[2], ARGV[1])
elseif outcome == 'retry' then
  redis.call('HSET', KEYS[1], 'callback_last_error', ARGV[7])
  redis.call('ZADD', KEYS[2], ARGV[6], ARGV[1])
else
  redis.call('HSET', KEYS[1], 'callback_status', outcome, 'callback_last_error', ARGV[7])
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return 1
