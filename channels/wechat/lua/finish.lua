-- The turn is over with its reply: a waiting delivery takes it (done; the record joins the
-- citizen's recent ones), the customer-service API sends it (push -> pushed), or it waits in the
-- outbox for the citizen's next message (queued -> outboxed, or the record is gone).
-- KEYS[1]: the message's record; KEYS[2]: the citizen's outbox; KEYS[3]: the citizen's recent records
-- ARGV[1]: the reply, a JSON list of texts; ARGV[2]: TTL of the reply, seconds
-- Returns 'done', 'push', 'queued', or the state the record was in.

local state = redis.call('HGET', KEYS[1], 'state')
if state == 'pending' then
  redis.call('HSET', KEYS[1], 'state', 'done', 'reply', ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  redis.call('LREM', KEYS[3], 0, KEYS[1])
  redis.call('LPUSH', KEYS[3], KEYS[1])
  redis.call('LTRIM', KEYS[3], 0, 9)
  redis.call('EXPIRE', KEYS[3], ARGV[2])
  return 'done'
elseif state == 'push' then
  redis.call('HSET', KEYS[1], 'state', 'pushed')
  return 'push'
elseif state == 'queued' or not state then
  if state then redis.call('HSET', KEYS[1], 'state', 'outboxed') end
  local texts = cjson.decode(ARGV[1])
  for i = 1, #texts do redis.call('RPUSH', KEYS[2], texts[i]) end
  if #texts > 0 then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
  return 'queued'
end
return state
