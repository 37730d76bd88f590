-- Take everything in a list at once (the replies owed to a citizen) and empty it.
-- KEYS[1]: the list (keys.wechat_outbox)
-- Returns the items, oldest first.

local items = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
return items
