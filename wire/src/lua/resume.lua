-- `producer resume BATCH` (kind '') or a raised budget (kind 'budget'), one chunk of
-- the batch's jobs per call. `resume` first clears the batch's cancel mark; then
-- every `cancelled` job of the chunk (of kind `budget` only, for a budget) is
-- `queued` again (lib.lua reopen_cancelled). A cancelled job never had a provider
-- task running: cancelling leaves those to their workers.
-- KEYS: batch, batch cancelled, batch jobs. ARGV: now, batch name, start, count, kind.
-- Returns {next start (-1: done), ids...}: the jobs reopened, and queued jobs whose
-- message is still parked (a resume interrupted before it published them), to be
-- published again from `{ns}:parked:{id}`; {'-2'} if no such batch. (All strings.)
if redis.call('HEXISTS', KEYS[1], 'total') == 0 then return {'-2'} end
local start = tonumber(ARGV[3])
local count = tonumber(ARGV[4])
if start == 0 and ARGV[5] == '' then redis.call('DEL', KEYS[2]) end
local prefix = string.sub(KEYS[1], 1, #KEYS[1] - #ARGV[2] - 7)
local ids = redis.call('ZRANGE', KEYS[3], start, start + count - 1)
local out = {'-1'}
if #ids == count then out[1] = tostring(start + count) end
for _, id in ipairs(ids) do
  local job = prefix .. ':job:' .. id
  local st = redis.call('HGET', job, 'status')
  if st == 'cancelled' and (ARGV[5] == '' or redis.call('HGET', job, 'cancel_kind') == ARGV[5]) then
    reopen_cancelled(job, KEYS[1], ARGV[2], ARGV[1])
    table.insert(out, id)
  elseif st == 'queued' and redis.call('EXISTS', prefix .. ':parked:' .. id) == 1 then
    table.insert(out, id)
  end
end
return out
