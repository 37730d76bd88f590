-- A retry finds the turn unfinished and its owner's lease run out (the process died): it takes
-- the turn over and waits for the reply as the first delivery would.
-- KEYS[1]: the message's record
-- ARGV[1]: now, Unix seconds; ARGV[2]: the retry's own lease end, Unix seconds
-- Returns 1 when this retry now runs the turn, else 0.

local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'pending' and state ~= 'push' and state ~= 'queued' then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'owner_until') or '0') >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'state', 'pending', 'owner_until', ARGV[2])
return 1
