-- Fails a job whose message is invalid, creating its record if needed.
-- KEYS: job, batch, lease, events, failed set. ARGV: now, error, batch name, id.
create_record(KEYS[1], KEYS[2], ARGV[1], '', '', ARGV[3], '')
return finish_job(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], '', 'failed', ARGV[1],
  ARGV[2], '', '', ARGV[3], ARGV[4])
