-- guard_release: undo one reservation (an outcome that took no action), exactly once, in one
-- round trip.
--
-- KEYS[1]  reservation     eng:{a}:guard:res:<slot id>   string '<at_us> <day key> <week key>'
-- KEYS[2]  hour zset       eng:{a}:guard:hour
-- ARGV[1]  reservation id (the slot id)
--
-- Returns  1  released: out of the hour zset, day and week counters decremented (a counter
--             that already expired is left alone, never driven below zero), reservation gone
--          0  no such reservation (never made, already released, or expired)
-- Errors   "CORRUPT ..." when the reservation is unreadable or names counters outside this
--          account's guard (checked before any write).
--
-- Cost: five redis.calls (GET, ZREM, DECR, DECR, DEL); a counter found gone or at zero
-- costs one or two more (rare: the release of a reservation whose day already ended).
--
-- The day and week counters are the ones the reservation counted in, whatever the date is
-- now (a release just after local midnight undoes yesterday's count, not today's). Their
-- names are read from the reservation here rather than declared in KEYS: the caller cannot
-- know them without reading the reservation first, which took a second round trip and left
-- a window in which the reservation could change between the read and the script. Reading
-- them here is atomic. It is also safe where Redis requires declared keys: on a single
-- server any key may be read; on Redis Cluster a script may touch undeclared keys of the
-- slot its declared keys hash to, and these do, because every guard key of an account
-- carries the account's hash tag (eng:{a}:..., the first braces of the name). The check
-- below makes sure of it: a counter name that does not start with this account's guard
-- prefix is refused, so a damaged reservation can never make the script write outside the
-- account's slot.
--
-- Nothing else needs repair: the newest action is read from the hour zset itself.
local raw = redis.pcall('GET', KEYS[1])
local day_key, week_key
if type(raw) == 'table' and raw.err then
  -- not a string: a hash {at, day, week}, as an older layout wrote reservations
  local res = redis.call('HMGET', KEYS[1], 'day', 'week')
  day_key, week_key = res[1], res[2]
  if not day_key or not week_key then
    return 0
  end
elseif not raw then
  return 0
else
  day_key, week_key = string.match(raw, '^%d+ (%S+) (%S+)$')
  if not day_key then
    return redis.error_reply('CORRUPT ' .. KEYS[1] .. ' is not a reservation: ' .. raw)
  end
end
local guard = string.sub(KEYS[2], 1, #KEYS[2] - #'hour') -- eng:{a}:guard:
if string.sub(day_key, 1, #guard + 4) ~= guard .. 'day:'
    or string.sub(week_key, 1, #guard + 5) ~= guard .. 'week:' then
  return redis.error_reply('CORRUPT ' .. KEYS[1] .. ' names counters of another account: '
                           .. day_key .. ', ' .. week_key)
end
redis.call('ZREM', KEYS[2], ARGV[1])
-- DECR without reading first (a read is one more call). A counter that is not a number is
-- left alone (the call fails, changing nothing). One that ends below zero was gone (DECR
-- created it, without a TTL: delete it again) or at zero (put it back).
for _, key in ipairs({day_key, week_key}) do
  local n = redis.pcall('DECR', key)
  if type(n) == 'number' and n < 0 then
    if n == -1 and redis.call('PTTL', key) == -1 then
      redis.call('DEL', key)
    else
      redis.call('INCR', key)
    end
  end
end
redis.call('DEL', KEYS[1])
return 1
