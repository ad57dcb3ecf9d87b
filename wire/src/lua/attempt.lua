-- The gate before every provider submission: counts it (delta 1) only if it may be
-- sent now, or takes back one the provider refused before creating a task (delta -1,
-- for 429 and 402/403; its reservation is released).
-- A submission may be sent when the job is not final, no other execution holds its
-- lease, no provider task is recorded for it (one recorded by an execution whose
-- lease lapsed is resumed, never paid for again), neither it nor its batch is
-- cancelled, the account's breaker is closed, and its estimate fits in its batch's
-- budget. One that passes reserves its estimate (`submit_pending`, see lib.lua) until
-- its charge is known. A lease that lapsed (Redis was unreachable longer than the
-- lease) and that nobody took is taken again, as a renewal would.
-- A breaker the daily budget opened does not stop a submission: every one got past
-- the budget's own reservation just before (worker `daily_reserve.lua`), which refuses
-- what does not fit, so one that holds a reservation is within the budget.
-- A job of a cancelled batch (or cancelled itself) or over its budget ends here,
-- `cancelled`, in the same step: no submission of it can start afterwards.
-- KEYS: job, lease, breaker, batch, batch cancelled, events, failed set.
-- ARGV: owner, delta, now, lease ms, estimate (micro-USD), batch name, id.
-- Returns {count, ''}, {-1, ''} if another execution holds the lease, {-2, reason} if
-- the breaker is open, {-3, status} if the job is final, {-4, task id} if a task is
-- recorded, {-5, reason} cancelled now (cancel), {-6, reason} cancelled now (budget).
local holder = redis.call('GET', KEYS[2])
if not lease_is_ours(holder, ARGV[1]) then return {-1, ''} end
if tonumber(ARGV[2]) > 0 then
  local job = redis.call('HMGET', KEYS[1], 'status', 'provider_task_id', 'cancel_reason', 'batch',
    'submit_pending')
  if is_final(job[1]) then return {-3, job[1]} end
  if job[2] and job[2] ~= '' then return {-4, job[2]} end
  local bname = ARGV[6]
  if (job[4] or '') ~= bname then bname = '' end
  local why = job[3]
  if not why and bname ~= '' then why = redis.call('GET', KEYS[5]) end
  if why then
    cancel_record(KEYS[1], KEYS[4], KEYS[2], KEYS[6], KEYS[7], ARGV[3], why, 'cancel', bname, ARGV[7])
    return {-5, why}
  end
  local b = redis.call('HMGET', KEYS[3], 'since', 'reason', 'daily_budget_day')
  if b[1] and not b[3] then return {-2, b[2] or ''} end
  local more = (tonumber(ARGV[5]) or 0) - (tonumber(job[5] or '0') or 0)
  if bname ~= '' and more > 0 then
    local h = redis.call('HMGET', KEYS[4], 'budget_micro_usd', 'cost_micro_usd',
      'reserved_micro_usd', 'unconfirmed_cost_micro_usd')
    if h[1] then
      local left = tonumber(h[1]) - (tonumber(h[2]) or 0) - (tonumber(h[3]) or 0)
        - (tonumber(h[4]) or 0)
      if more > left then
        why = 'budget: batch budget of ' .. fmt_usd(h[1]) .. ' USD reached'
        cancel_record(KEYS[1], KEYS[4], KEYS[2], KEYS[6], KEYS[7], ARGV[3], why, 'budget', bname,
          ARGV[7])
        return {-6, why}
      end
    end
  end
  reserve(KEYS[1], KEYS[4], bname, more)
  redis.call('HSET', KEYS[1], 'submit_pending', tonumber(ARGV[5]) or 0)
  if not holder then redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[4]) end
else
  release_pending(KEYS[1])
end
local n = redis.call('HINCRBY', KEYS[1], 'attempts', ARGV[2])
redis.call('HSET', KEYS[1], 'updated_at', ARGV[3])
return {n, ''}
