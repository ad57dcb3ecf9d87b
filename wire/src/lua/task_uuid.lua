-- The taskUUID a Runware job submits under: chosen once before its first submit and
-- kept across retries of that submission. KEYS: job. ARGV: 'take' | 'retire', uuid.
-- take: stores ARGV[2] unless one is stored, and returns the stored one.
-- retire: forgets the stored one if it is ARGV[2] (its task ended); returns ''.
if ARGV[1] == 'take' then
  redis.call('HSETNX', KEYS[1], 'runware_task_uuid', ARGV[2])
  return redis.call('HGET', KEYS[1], 'runware_task_uuid')
end
if redis.call('HGET', KEYS[1], 'runware_task_uuid') == ARGV[2] then
  redis.call('HDEL', KEYS[1], 'runware_task_uuid')
end
return ''
