-- Adds a charge reported with a task's result (Runware), once per (job, task): the
-- task ids already charged are kept in `result_charged_tasks`, so a resumed or
-- redelivered job never adds it twice. KEYS: job. ARGV: task id, charge (micro-USD),
-- now, charge error ('' for none; as in task.lua). Returns 1 if added, 0 if already
-- counted or the job is final.
local st = redis.call('HGET', KEYS[1], 'status')
if is_final(st) then return 0 end
local seen = redis.call('HGET', KEYS[1], 'result_charged_tasks') or ''
if string.find(' ' .. seen .. ' ', ' ' .. ARGV[1] .. ' ', 1, true) then return 0 end
local list = ARGV[1]
if seen ~= '' then list = seen .. ' ' .. ARGV[1] end
redis.call('HSET', KEYS[1], 'result_charged_tasks', list, 'updated_at', ARGV[3])
local c = redis.call('HINCRBY', KEYS[1], 'charged_micro_usd', ARGV[2])
-- Held against the batch's budget until the job is final (lib.lua).
local batch, bname = batch_of(KEYS[1])
reserve(KEYS[1], batch, bname, tonumber(ARGV[2]) or 0)
redis.call('HSET', KEYS[1], 'cost_usd', fmt_usd(c))
if ARGV[4] and ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'charge_error', ARGV[4]) end
return 1
