-- guard_release: undo one reservation (an outcome that took no action), exactly once, in one
-- round trip.
--
-- KEYS[1]  reservation     eng:{a}:guard:res:<slot id>   {at, day, week}
-- KEYS[2]  hour zset       eng:{a}:guard:hour
-- KEYS[3]  last action     eng:{a}:guard:last
-- ARGV[1]  reservation id (the slot id)
--
-- Returns  1  released: out of the hour zset, day and week counters decremented (a counter
--             that already expired is left alone, never driven below zero), reservation gone
--          0  no such reservation (never made, already released, or expired)
-- Errors   "CORRUPT ..." when the reservation names counters outside this account's guard
--          (checked before any write).
--
-- The day and week counters are the ones the reservation counted in, whatever the date is
-- now (a release just after local midnight undoes yesterday's count, not today's). Their
-- names are read from the reservation hash here rather than declared in KEYS: the caller
-- cannot know them without reading the hash first, which took a second round trip and left
-- a window in which the reservation could change between the read and the script. Reading
-- them here is atomic. It is also safe where Redis requires declared keys: on a single
-- server any key may be read; on Redis Cluster a script may touch undeclared keys of the
-- slot its declared keys hash to, and these do, because every guard key of an account
-- carries the account's hash tag (eng:{a}:...). The check below makes sure of it: a
-- counter name that does not start with this account's guard prefix is refused, so a
-- damaged hash can never make the script write outside the account's slot.
--
-- The last-action instant: if it still equals this reservation's instant it becomes the
-- newest instant left in the hour zset (or is deleted when none is left). If a later action
-- was recorded meanwhile it is left alone. The hour zset is what the gap check reads, so
-- this key only serves status reports; restoring it from the zset (rather than from a value
-- saved at reserve time) cannot resurrect an instant that was itself released since.
local res = redis.call('HMGET', KEYS[1], 'at', 'day', 'week')
local at, day_key, week_key = res[1], res[2], res[3]
if not day_key or not week_key then
  return 0
end
local guard = string.sub(KEYS[2], 1, #KEYS[2] - #'hour') -- eng:{a}:guard:
if string.sub(day_key, 1, #guard + 4) ~= guard .. 'day:'
    or string.sub(week_key, 1, #guard + 5) ~= guard .. 'week:' then
  return redis.error_reply('CORRUPT ' .. KEYS[1] .. ' names counters of another account: '
                           .. day_key .. ', ' .. week_key)
end
redis.call('ZREM', KEYS[2], ARGV[1])
local got = redis.call('MGET', day_key, week_key, KEYS[3])
for i, key in ipairs({day_key, week_key}) do
  local n = tonumber(got[i] or '')
  if n ~= nil and n > 0 then
    redis.call('DECR', key)
  end
end
local last = tonumber(got[3] or '')
if last ~= nil and last == tonumber(at) then
  local newest = redis.call('ZREVRANGEBYSCORE', KEYS[2], '+inf', '-inf', 'WITHSCORES',
                            'LIMIT', '0', '1')
  if #newest > 0 then
    redis.call('SET', KEYS[3], newest[2], 'KEEPTTL')
  else
    redis.call('DEL', KEYS[3])
  end
end
redis.call('DEL', KEYS[1])
return 1
