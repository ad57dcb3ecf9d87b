-- `producer resume --job ID`: a `cancelled` job is `queued` again (lib.lua
-- reopen_cancelled), unless its batch is cancelled (the gate would cancel it again).
-- KEYS: job, batch, batch cancelled. ARGV: now, batch name.
-- Returns {'reopened'}, {'batch_cancelled'}, {'not_cancelled', status} or {'missing'}.
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return {'missing'} end
if st ~= 'cancelled' then return {'not_cancelled', st} end
if ARGV[2] ~= '' and redis.call('EXISTS', KEYS[3]) == 1 then return {'batch_cancelled'} end
reopen_cancelled(KEYS[1], KEYS[2], ARGV[2], ARGV[1])
return {'reopened'}
