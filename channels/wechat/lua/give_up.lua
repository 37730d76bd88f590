-- The reply budget is spent and the turn is still running: hand the reply to the API (push) or
-- to the outbox (queued); if the turn finished meanwhile, take its reply instead (answered).
-- KEYS[1]: the message's record
-- ARGV[1]: the new state, push or queued; ARGV[2]: the record's TTL, seconds
-- Returns {'gave_up' or the state before, reply (JSON) or '', passive answer or ''}.

local state = redis.call('HGET', KEYS[1], 'state')
if state == 'pending' then
  redis.call('HSET', KEYS[1], 'state', ARGV[1])
  return {'gave_up', '', ''}
end
if state == 'done' then
  redis.call('HSET', KEYS[1], 'state', 'answered')
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return {'done', redis.call('HGET', KEYS[1], 'reply'), ''}
end
if state == 'answered' then
  return {state, redis.call('HGET', KEYS[1], 'reply') or '', redis.call('HGET', KEYS[1], 'passive') or ''}
end
return {state or '', '', ''}
