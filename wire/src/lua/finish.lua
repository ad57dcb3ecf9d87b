-- KEYS: job, batch, lease, events, failed set.
-- ARGV: owner, status, now, error, image url, image path, batch name, id.
return finish_job(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1], ARGV[2], ARGV[3],
  ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8])
