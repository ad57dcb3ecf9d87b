-- Renews (ARGV[3] = ms) or releases (ARGV[3] = '0') a job's lease if it is ours.
-- KEYS: lease. ARGV: owner, unused, ms. Returns 1 if ours, 0 if not.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  if ARGV[3] ~= '0' and not redis.call('GET', KEYS[1]) then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
    return 1
  end
  return 0
end
if ARGV[3] == '0' then redis.call('DEL', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1
