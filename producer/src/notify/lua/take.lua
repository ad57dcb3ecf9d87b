-- Takes up to ARGV[3] deliveries due by ARGV[1] (ms) for one notifier: each one's
-- score moves to now + lease (ARGV[2] ms), so no other notifier takes it while this
-- one delivers; that score is the taker's claim. KEYS: due set.
-- Returns {job ids, claim score}.
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
local claim = tonumber(ARGV[1]) + tonumber(ARGV[2])
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], claim, id) end
return {ids, tostring(claim)}
