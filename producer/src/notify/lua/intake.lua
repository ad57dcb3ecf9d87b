-- Takes one `{ns}:events` entry into callback delivery, then acknowledges it in the
-- consumer group: a job with a `callback_url` whose current delivery is not for
-- this entry gets `callback_status` pending, zero attempts, and is due now.
-- KEYS: job, due set, events stream. ARGV: entry id, job id, now ms, group.
-- Returns 1 if a delivery was queued.
local url = redis.call('HGET', KEYS[1], 'callback_url')
local queued = 0
if url and url ~= '' and redis.call('HGET', KEYS[1], 'callback_event') ~= ARGV[1] then
  redis.call('HSET', KEYS[1], 'callback_event', ARGV[1], 'callback_status', 'pending',
    'callback_attempts', 0)
  redis.call('HDEL', KEYS[1], 'callback_last_at', 'callback_last_error', 'callback_delivered_at')
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
  queued = 1
end
redis.call('XACK', KEYS[3], ARGV[4], ARGV[1])
return queued
