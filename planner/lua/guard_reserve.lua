-- guard_reserve: check the rolling hour, the local day, the ISO week and the minimum gap
-- together, then either refuse and change nothing, or record the action in every window
-- at once (invariants I1 and I2). Instants are integer epoch MICROseconds: exact in Lua's
-- doubles (< 2^53), so window edges compare exactly and print without rounding.
--
-- KEYS[1]  hour zset       eng:{a}:guard:hour           reservation ids by instant (us)
-- KEYS[2]  day counter     eng:{a}:guard:day:<date>     the action's local date
-- KEYS[3]  week counter    eng:{a}:guard:week:<YYYY-Www> the action's local ISO week
-- KEYS[4]  last action     eng:{a}:guard:last           newest recorded instant (us)
-- KEYS[5]  reservation     eng:{a}:guard:res:<slot id>  {at, day, week}
-- KEYS[6]  trim mark       eng:{a}:guard:trimmed        hour zset entries below it are gone
-- ARGV[1]  now, epoch us (the action's instant)
-- ARGV[2]  reservation id (the slot id)
-- ARGV[3]  hourly limit          ARGV[4]  daily limit          ARGV[5]  weekly limit
-- ARGV[6]  minimum gap, us       ARGV[7]  rolling window, us (3600e6)
-- ARGV[8]  us from now to the next local midnight (the day's retry)
-- ARGV[9]  us from now to the next local Monday 00:00 (the week's retry)
-- ARGV[10] day counter TTL, s    ARGV[11] week counter and reservation TTL, s
-- ARGV[12] trim horizon, us: recording at now drops entries older than now - horizon
-- ARGV[13] hour zset, last-action and trim-mark TTL, s
--
-- Returns {outcome, blocked_by, retry_after_us, hour, day, week}
--   outcome     'allowed' (recorded), 'blocked' (nothing changed), 'already' (this id
--               holds a reservation: nothing counted twice, nothing changed)
--   blocked_by  '' or the window with the longest wait: 'week' | 'day' | 'hour' | 'gap';
--               or 'stale' (retry_after 0): now is so far behind the newest recorded action
--               that entries it would need were trimmed; the caller's clock is wrong
--   hour        actions in (now - window, now]; day, week: the counters (after recording)
-- Errors   "CORRUPT ..." when a counter is not a number (checked before any write).
--
-- The hour window is checked as a sliding window around now, not only (now - W, now]:
-- callers pass their own now (fetched a moment earlier, or from another host), so an
-- earlier instant may arrive after a later one. Then every run of (hourly + 1) recorded
-- instants that includes now must span at least the window; the gap is checked against
-- neighbours on both sides. With instants arriving in order this is the classic check.
-- Trimming: entries older than (now - horizon) are dropped when recording, and the cut-off
-- is remembered (KEYS[6]); an instant whose neighbourhood reaches below it is 'stale'.
local now = tonumber(ARGV[1])
local id = ARGV[2]
local hourly, daily, weekly = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local gap, window = tonumber(ARGV[6]), tonumber(ARGV[7])

local function fmt(x)
  return string.format('%.17g', x)
end

local function counter(key)
  local raw = redis.call('GET', key)
  if not raw then
    return 0
  end
  local n = tonumber(raw)
  if n == nil then
    return redis.error_reply('CORRUPT ' .. key .. ' is not a number')
  end
  return n
end

local day, week = counter(KEYS[2]), counter(KEYS[3])
if type(day) == 'table' then return day end
if type(week) == 'table' then return week end
local hour = redis.call('ZCOUNT', KEYS[1], '(' .. fmt(now - window), fmt(now))

if redis.call('EXISTS', KEYS[5]) == 1 then
  return {'already', '', 0, hour, day, week}
end

local reach = math.max(window, gap)
local mark = tonumber(redis.call('GET', KEYS[6]) or '')
if mark ~= nil and now - reach < mark then
  return {'blocked', 'stale', 0, hour, day, week}
end

-- rolling hour: recorded instants sharing a window with now, in order, now inserted
local near = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. fmt(now - window),
                        '(' .. fmt(now + window), 'WITHSCORES')
local times, p = {}, nil
for i = 2, #near, 2 do
  local t = tonumber(near[i])
  if p == nil and t > now then
    times[#times + 1] = now
    p = #times
  end
  times[#times + 1] = t
end
if p == nil then
  times[#times + 1] = now
  p = #times
end
local hour_wait = 0
for i = math.max(1, p - hourly), math.min(p, #times - hourly) do
  if times[i + hourly] - times[i] < window then
    hour_wait = math.max(hour_wait, times[i] + window - now)
  end
end

-- minimum gap: any recorded instant closer than gap, on either side
local gap_wait = 0
if gap > 0 then
  local close = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. fmt(now - gap),
                           '(' .. fmt(now + gap), 'WITHSCORES')
  if #close > 0 then
    gap_wait = tonumber(close[#close]) + gap - now
  end
end

local blocked, wait = '', 0
local function consider(name, w)
  if w > wait then
    blocked, wait = name, w
  end
end
if week >= weekly then consider('week', tonumber(ARGV[9])) end
if day >= daily then consider('day', tonumber(ARGV[8])) end
consider('hour', hour_wait)
consider('gap', gap_wait)
if blocked ~= '' then
  return {'blocked', blocked, wait, hour, day, week}
end

redis.call('ZADD', KEYS[1], fmt(now), id)
redis.call('EXPIRE', KEYS[1], ARGV[13])
local cutoff = now - tonumber(ARGV[12])
if mark == nil or cutoff > mark then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. fmt(cutoff))
  redis.call('SET', KEYS[6], fmt(cutoff), 'EX', ARGV[13])
end
day = redis.call('INCR', KEYS[2])
if day == 1 then redis.call('EXPIRE', KEYS[2], ARGV[10]) end
week = redis.call('INCR', KEYS[3])
if week == 1 then redis.call('EXPIRE', KEYS[3], ARGV[11]) end
local last = tonumber(redis.call('GET', KEYS[4]) or '')
if last == nil or now > last then
  redis.call('SET', KEYS[4], fmt(now), 'EX', ARGV[13])
end
redis.call('HSET', KEYS[5], 'at', fmt(now), 'day', KEYS[2], 'week', KEYS[3])
redis.call('EXPIRE', KEYS[5], ARGV[11])
return {'allowed', '', 0, hour + 1, day, week}
