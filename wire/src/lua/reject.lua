-- Fails the job of a message that is invalid, if the job has no record: a record
-- that exists belongs to the job's first valid message, which an invalid copy (the
-- same id with a typo, an unknown field) must not fail. The message itself is
-- dead-lettered by the caller either way.
-- KEYS: job, batch, lease, events, failed set, batch jobs, batches. ARGV: now, error, batch name, id.
-- Returns as finish_job does; {0} when the record existed (left alone).
if create_record(KEYS[1], KEYS[2], KEYS[6], KEYS[7], ARGV[1], '', '', ARGV[3], '') == 0 then return {0} end
return finish_job(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], '', 'failed', ARGV[1],
  ARGV[2], '', '', ARGV[3], ARGV[4])
