-- The process running a message's turn renews its lease while the turn runs.
-- KEYS[1]: the message's record
-- ARGV[1]: now, Unix seconds (not used); ARGV[2]: the lease's new end, Unix seconds
-- Returns 1 when renewed, 0 when the turn is over (the reply went its way).

local state = redis.call('HGET', KEYS[1], 'state')
if state == 'pending' or state == 'push' or state == 'queued' then
  redis.call('HSET', KEYS[1], 'owner_until', ARGV[2])
  return 1
end
return 0
