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
-- ARGV[1]  now, epoch us (the action's instant), an integer in decimal
-- ARGV[2]  reservation id (the slot id)
-- ARGV[3]  the guard's constants, packed as eight little-endian doubles (Redis' struct
--          library, format '<dddddddd'; every value is an integer < 2^53, so exact). One
--          argument built once per guard instead of eight decimal strings: each argument
--          costs the client encoding and the server a string and a strtod per call.
--            hourly daily weekly   the caps
--            gap                   minimum gap, us
--            window                rolling window, us (3600e6)
--            horizon               trim horizon, us: entries older than now - horizon may
--                                  be dropped when recording (see Trimming)
--            long_ttl              hour zset and last-action TTL, s (the trim mark's is a
--                                  window longer)
--            grace                 day / week counters outlive their period by this, s
-- ARGV[4]  the local day of now, packed as two doubles ('<dd'): its end (the next local
--          midnight) and the end of its ISO week (the next local Monday 00:00), epoch us.
--          The caller computes both on the local calendar (DST-correct) and caches them per
--          local day; the waits and the counter TTLs below are derived from them here.
--
-- Returns one string, six fields separated by one space (a single bulk reply costs the
-- client far less to parse than an array of six):
--   'outcome blocked_by retry_after_us hour day week'
--   outcome     'allowed' (recorded), 'blocked' (nothing changed), 'already' (this id
--               holds a reservation: nothing counted twice, nothing changed)
--   blocked_by  '-' or the window with the longest wait: 'week' | 'day' | 'hour' | 'gap';
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
-- Trimming: entries older than (now - horizon) are dropped when recording (lazily, about
-- once per window of progress), and the cut-off is remembered (KEYS[6]); an instant whose
-- neighbourhood reaches below it is 'stale'.
local now = tonumber(ARGV[1])
local id = ARGV[2]
local hourly, daily, weekly, gap, window, horizon, long_ttl, grace = struct.unpack(
  '<dddddddd', ARGV[3])
local day_end, week_end = struct.unpack('<dd', ARGV[4])
local to_midnight = day_end - now
local to_monday = week_end - now

-- Every instant, wait and count here is an integer: '%d' prints it exactly (and is cheaper
-- than '%.17g').
local function reply(outcome, blocked_by, wait, hour, day, week)
  return string.format('%s %s %d %d %d %d', outcome, blocked_by, wait, hour, day, week)
end

-- One read for the four strings (every inner call costs the server time).
local got = redis.call('MGET', KEYS[2], KEYS[3], KEYS[4], KEYS[6])
local day, week = tonumber(got[1] or 0), tonumber(got[2] or 0)
local last, mark = tonumber(got[3] or ''), tonumber(got[4] or '')
if day == nil then return redis.error_reply('CORRUPT ' .. KEYS[2] .. ' is not a number') end
if week == nil then return redis.error_reply('CORRUPT ' .. KEYS[3] .. ' is not a number') end

if redis.call('EXISTS', KEYS[5]) == 1 then
  local hour = redis.call('ZCOUNT', KEYS[1], string.format('(%d', now - window), ARGV[1])
  return reply('already', '-', 0, hour, day, week)
end

-- rolling hour: recorded instants sharing a window with now, in order, now inserted at p
-- (after any instant equal to now). Those before p are the hour's count, (now - W, now].
local near = redis.call('ZRANGEBYSCORE', KEYS[1], string.format('(%d', now - window),
                        string.format('(%d', now + window), 'WITHSCORES')
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
local hour = p - 1

local reach = math.max(window, gap)
if mark ~= nil and now - reach < mark then
  return reply('blocked', 'stale', 0, hour, day, week)
end

local hour_wait = 0
for i = math.max(1, p - hourly), math.min(p, #times - hourly) do
  if times[i + hourly] - times[i] < window then
    hour_wait = math.max(hour_wait, times[i] + window - now)
  end
end

-- minimum gap: the latest recorded instant closer than gap, on either side. Within the
-- window those are among the neighbours already read; a gap longer than the window (not a
-- sensible setting, but a valid one) reads its own range.
local gap_wait = 0
if gap > 0 then
  local latest = nil
  if gap <= window then
    for i = #times, 1, -1 do
      local t = times[i]
      if i ~= p and t < now + gap and t > now - gap then
        latest = t
        break
      end
    end
  else
    local close = redis.call('ZRANGEBYSCORE', KEYS[1], string.format('(%d', now - gap),
                             string.format('(%d', now + gap), 'WITHSCORES')
    if #close > 0 then
      latest = tonumber(close[#close])
    end
  end
  if latest ~= nil then
    gap_wait = latest + gap - now
  end
end

local blocked, wait = '', 0
if week >= weekly and to_monday > wait then blocked, wait = 'week', to_monday end
if day >= daily and to_midnight > wait then blocked, wait = 'day', to_midnight end
if hour_wait > wait then blocked, wait = 'hour', hour_wait end
if gap_wait > wait then blocked, wait = 'gap', gap_wait end
if blocked ~= '' then
  return reply('blocked', blocked, wait, hour, day, week)
end

-- Numbers go to redis.call as strings made with '%d': a Lua number would be printed with
-- '%.17g' on every call, which costs more than the command itself.
local long_ttl_s = string.format('%d', long_ttl)
redis.call('ZADD', KEYS[1], ARGV[1], id)
redis.call('EXPIRE', KEYS[1], long_ttl_s)
-- Trimming is lazy: only once the cut-off has moved a whole window past the mark, about
-- once an hour rather than on every action (it costs two writes). Entries between the mark
-- and the cut-off stay a little longer and are still checked exactly. The mark must not
-- expire before the hour zset (without it a stale instant would be checked against a
-- trimmed zset), so it is written with a TTL one window longer than the zset's: the zset's
-- TTL is refreshed by every action, the mark's only when trimming, which happens whenever
-- instants have moved on by a window. Like the counters' TTLs (derived from instants but
-- counted by the server's clock), this assumes instants follow the server's clock, as they
-- do in production (Redis TIME, or a worker's clock near it).
local cutoff = now - horizon
if mark == nil or cutoff > mark + window then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('(%d', cutoff))
  redis.call('SET', KEYS[6], string.format('%d', cutoff), 'EX',
             string.format('%d', long_ttl + window / 1e6))
end
day = redis.call('INCR', KEYS[2])
if day == 1 then
  redis.call('EXPIRE', KEYS[2], string.format('%d', math.ceil(to_midnight / 1e6) + grace))
end
week = redis.call('INCR', KEYS[3])
local week_ttl = string.format('%d', math.ceil(to_monday / 1e6) + grace)
if week == 1 then redis.call('EXPIRE', KEYS[3], week_ttl) end
if last == nil or now > last then
  redis.call('SET', KEYS[4], ARGV[1], 'EX', long_ttl_s)
end
redis.call('HSET', KEYS[5], 'at', ARGV[1], 'day', KEYS[2], 'week', KEYS[3])
redis.call('EXPIRE', KEYS[5], week_ttl)
return reply('allowed', '-', 0, hour + 1, day, week)
