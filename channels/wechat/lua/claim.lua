-- A delivery takes a finished reply: done -> ARGV[1] (answered: its retries may repeat it;
-- swept: taken by a later message, never repeated). A delivery asking for answered on an
-- answered record gets what the first one answered.
-- KEYS[1]: the message's record
-- ARGV[1]: the new state, answered or swept; ARGV[2]: the record's TTL, seconds
-- Returns {state before, reply (JSON) or '', passive answer or ''}.

local state = redis.call('HGET', KEYS[1], 'state')
if state == 'done' then
  redis.call('HSET', KEYS[1], 'state', ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return {state, redis.call('HGET', KEYS[1], 'reply'), ''}
end
if state == 'answered' and ARGV[1] == 'answered' then
  return {state, redis.call('HGET', KEYS[1], 'reply') or '', redis.call('HGET', KEYS[1], 'passive') or ''}
end
return {state or '', '', ''}
