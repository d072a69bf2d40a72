-- slot_reschedule: move a slot to a new instant on its own day; it becomes pending again.
--
-- KEYS[1]  slot hash (eng:{acct}:slot:<id>)
-- KEYS[2]  the slot's day zset (eng:{acct}:day:<YYYY-MM-DD>)
-- KEYS[3]  in-flight hash (eng:{acct}:inflight)
-- ARGV[1]  expected current status ('pending', or 'claimed' to give a claim back)
-- ARGV[2]  new instant: epoch seconds (the zset score)
-- ARGV[3]  new scheduled_at: ISO 8601 instant with offset
-- ARGV[4]  new scheduled_time: local HH:MM
-- ARGV[5]  slot id (the zset member)
-- ARGV[6]  the date the slot must belong to (YYYY-MM-DD)
-- ARGV[7]  new instant: epoch microseconds (the slot's at_us field)
--
-- Returns  1 moved;  0 not in the expected status: nothing changed;  -1 no such slot;
--         -2 the slot belongs to another day: nothing changed
-- A claim given back also ends the in-flight entry naming this slot, if there is one.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
local fields = redis.call('HMGET', KEYS[1], 'status', 'date')
if fields[1] ~= ARGV[1] then
  return 0
end
if fields[2] ~= ARGV[6] then
  return -2
end
local ended = {}
if ARGV[1] == 'claimed' then
  local kind = redis.call('TYPE', KEYS[3])['ok']
  if kind ~= 'hash' and kind ~= 'none' then
    return redis.error_reply('CORRUPT ' .. KEYS[3] .. ' holds a ' .. kind)
  end
  local prefix = ARGV[5] .. ' '
  local flat = redis.call('HGETALL', KEYS[3])
  for i = 1, #flat, 2 do
    if string.sub(flat[i + 1], 1, #prefix) == prefix then
      ended[#ended + 1] = flat[i]
    end
  end
end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[5])
redis.call('HSET', KEYS[1], 'status', 'pending', 'claimed_at', '',
           'scheduled_at', ARGV[3], 'at_us', ARGV[7], 'scheduled_time', ARGV[4])
if #ended > 0 then
  redis.call('HDEL', KEYS[3], unpack(ended))
end
return 1
