-- KEYS: job, batch, batch jobs, batches. ARGV: now, provider, model, batch name ('' for none), metadata JSON
-- ('' for none), fingerprint.
return create_record(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])
