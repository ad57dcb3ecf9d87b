-- `producer cancel BATCH`, one chunk of the batch's jobs per call (so no call holds
-- Redis long). The first call (start 0) marks the batch cancelled, from which moment
-- the submit gate (attempt.lua) refuses every job of it; every call then ends
-- `cancelled` each open job of its chunk that has no provider task and no submission
-- in flight (those are left to their workers: they run to the end and are paid for,
-- or are refused at the gate if they come back to it). Idempotent: a second cancel
-- keeps the first reason and cancels whatever is left.
-- KEYS: batch, batch cancelled, batch jobs, events, failed set.
-- ARGV: reason, now, batch name, start (rank in the batch's jobs), count.
-- Returns {state, cancelled in this chunk, left in flight in this chunk, next start
-- (-1: done)}; state is 'cancelled', 'already' (cancelled before), 'finished' (the
-- batch had finished: nothing changed) or 'missing' (no such batch).
if redis.call('HEXISTS', KEYS[1], 'total') == 0 then return {'missing', 0, 0, -1} end
local start = tonumber(ARGV[4])
local count = tonumber(ARGV[5])
local state = 'cancelled'
if redis.call('EXISTS', KEYS[2]) == 1 then
  state = 'already'
elseif redis.call('HEXISTS', KEYS[1], 'finished_at') == 1 then
  return {'finished', 0, 0, -1}
else
  redis.call('SET', KEYS[2], ARGV[1])
end
local reason = redis.call('GET', KEYS[2])
local prefix = string.sub(KEYS[1], 1, #KEYS[1] - #ARGV[3] - 7)
local ids = redis.call('ZRANGE', KEYS[3], start, start + count - 1)
local done, busy = 0, 0
for _, id in ipairs(ids) do
  local job = prefix .. ':job:' .. id
  local j = redis.call('HMGET', job, 'status', 'provider_task_id', 'submit_pending')
  if j[1] and not is_final(j[1]) then
    if (j[2] and j[2] ~= '') or j[3] then
      busy = busy + 1
    else
      local r = cancel_record(job, KEYS[1], prefix .. ':lease:' .. id, KEYS[4], KEYS[5], ARGV[2],
        reason, 'cancel', ARGV[3], id)
      if r[1] == 1 then done = done + 1 end
    end
  end
end
local nxt = -1
if #ids == count then nxt = start + count end
return {state, done, busy, nxt}
