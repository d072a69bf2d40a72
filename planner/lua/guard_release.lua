-- guard_release: undo one reservation (an outcome that took no action), exactly once.
--
-- KEYS[1]  reservation     eng:{a}:guard:res:<slot id>   {at, day, week}
-- KEYS[2]  hour zset       eng:{a}:guard:hour
-- KEYS[3]  day counter     the key the reservation counted in (read from it by the caller)
-- KEYS[4]  week counter    likewise
-- KEYS[5]  last action     eng:{a}:guard:last
-- ARGV[1]  reservation id (the slot id)
--
-- Returns  1  released: out of the hour zset, day and week counters decremented (a counter
--             that already expired is left alone, never driven below zero), reservation gone
--          0  no such reservation (never made, already released, or expired)
--         -1  the reservation names other counter keys than KEYS[3] / KEYS[4]: nothing changed
--
-- The last-action instant: if it still equals this reservation's instant it becomes the
-- newest instant left in the hour zset (or is deleted when none is left). If a later action
-- was recorded meanwhile it is left alone. The hour zset is what the gap check reads, so
-- this key only serves status reports; restoring it from the zset (rather than from a value
-- saved at reserve time) cannot resurrect an instant that was itself released since.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local res = redis.call('HMGET', KEYS[1], 'at', 'day', 'week')
if res[2] ~= KEYS[3] or res[3] ~= KEYS[4] then
  return -1
end
redis.call('ZREM', KEYS[2], ARGV[1])
for _, key in ipairs({KEYS[3], KEYS[4]}) do
  local n = tonumber(redis.call('GET', key) or '')
  if n ~= nil and n > 0 then
    redis.call('DECR', key)
  end
end
local last = tonumber(redis.call('GET', KEYS[5]) or '')
if last ~= nil and last == tonumber(res[1]) then
  local newest = redis.call('ZREVRANGEBYSCORE', KEYS[2], '+inf', '-inf', 'WITHSCORES',
                            'LIMIT', 0, 1)
  if #newest > 0 then
    redis.call('SET', KEYS[5], newest[2], 'KEEPTTL')
  else
    redis.call('DEL', KEYS[5])
  end
end
redis.call('DEL', KEYS[1])
return 1
