-- One delivery of a message arrives: count it; the first one creates the message's record
-- (state pending, its turn leased to the process that received it).
-- KEYS[1]: the message's record (keys.wechat_msg)
-- ARGV[1]: the record's TTL, seconds; ARGV[2]: the lease's end, Unix seconds
-- Returns the number of deliveries so far (1: this one runs the turn).

local n = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
if n == 1 then
  redis.call('HSET', KEYS[1], 'state', 'pending', 'owner_until', ARGV[2])
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return n
