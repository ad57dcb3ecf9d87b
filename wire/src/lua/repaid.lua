-- A paid task's image could not be fetched at all (the task gone, its URL refused
-- for good): counts it in the job's `repaid_downloads` and returns the count.
-- KEYS: job. Touches nothing if the record does not exist.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
return redis.call('HINCRBY', KEYS[1], 'repaid_downloads', 1)
