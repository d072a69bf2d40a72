-- guard_reserve: check the rolling hour, the local day, the ISO week and the minimum gap
-- together, then either refuse and change nothing, or record the action in every window
-- at once (invariants I1 and I2). Instants are integer epoch MICROseconds: exact in Lua's
-- doubles (< 2^53), so window edges compare exactly and print without rounding.
--
-- KEYS[1]  hour zset       eng:{a}:guard:hour           reservation ids by instant (us)
-- KEYS[2]  day counter     eng:{a}:guard:day:<date>     the action's local date
-- KEYS[3]  week counter    eng:{a}:guard:week:<YYYY-Www> the action's local ISO week
-- KEYS[4]  reservation     eng:{a}:guard:res:<slot id>  string '<at_us> <day key> <week key>'
-- KEYS[5]  trim mark       eng:{a}:guard:trimmed        hour zset entries below it are gone
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
--            long_ttl              hour zset TTL, s (the trim mark's is a window longer)
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
-- Cost: the server pays a fixed price for every redis.call (and every write is appended to
-- the AOF), and about a microsecond per instant it hands to Lua, so the common case makes
-- eight calls and reads at most one instant: MGET (counters, trim mark, reservation), two
-- ZCOUNTs (around now; the hour up to now), the nearest instant within the gap, then SET,
-- ZADD, INCR, INCR. The rest happen only when needed: the instants around now once hourly
-- of them are there (only then can the hour block), EXPIRE of a counter when it is
-- created, of the hour zset when it may have just been created or when trimming (see
-- Trimming), ZCOUNT on 'already'.
--
-- The hour window is checked as a sliding window around now, not only (now - W, now]:
-- callers pass their own now (fetched a moment earlier, or from another host), so an
-- earlier instant may arrive after a later one. Then every run of (hourly + 1) recorded
-- instants that includes now must span at least the window; the gap is checked against
-- neighbours on both sides. With instants arriving in order this is the classic check.
-- The newest recorded instant is the hour zset's last entry (trimming never removes it):
-- no separate 'last action' key is kept.
-- Trimming: entries older than (now - horizon) are dropped when recording (lazily, about
-- once per window of progress), and the cut-off is remembered (KEYS[5]); an instant whose
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

-- One read for the four strings (every inner call costs the server time). A reservation
-- that is not a string (a hash, as an older layout wrote it) reads as nil here; the SET NX
-- below still finds it.
local got = redis.call('MGET', KEYS[2], KEYS[3], KEYS[5], KEYS[4])
local day, week = tonumber(got[1] or 0), tonumber(got[2] or 0)
local mark = tonumber(got[3] or '')
if day == nil then return redis.error_reply('CORRUPT ' .. KEYS[2] .. ' is not a number') end
if week == nil then return redis.error_reply('CORRUPT ' .. KEYS[3] .. ' is not a number') end

if got[4] then
  local hour = redis.call('ZCOUNT', KEYS[1], string.format('(%d', now - window), ARGV[1])
  return reply('already', '-', 0, hour, day, week)
end

-- rolling hour. Only instants within a window of now can share a window with it; while
-- fewer than hourly of them exist (the usual case), no run of (hourly + 1) instants around
-- now fits in a window, so the check needs their count only, not the instants: reading and
-- converting them costs the server far more than counting (about 1 us per instant).
local lo, hi = string.format('(%d', now - window), string.format('(%d', now + window)
local around = redis.call('ZCOUNT', KEYS[1], lo, hi)
local hour = 0
if around > 0 then
  hour = redis.call('ZCOUNT', KEYS[1], lo, ARGV[1])  -- (now - W, now]
end

local reach = math.max(window, gap)
if mark ~= nil and now - reach < mark then
  return reply('blocked', 'stale', 0, hour, day, week)
end

local hour_wait = 0
if around >= hourly then
  -- The instants in order, now inserted at p (after any instant equal to now): those
  -- before p are the hour's count.
  local near = redis.call('ZRANGEBYSCORE', KEYS[1], lo, hi, 'WITHSCORES')
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
  for i = math.max(1, p - hourly), math.min(p, #times - hourly) do
    if times[i + hourly] - times[i] < window then
      hour_wait = math.max(hour_wait, times[i] + window - now)
    end
  end
end

-- minimum gap: the latest recorded instant closer than gap, on either side (a gap longer
-- than the window, not a sensible setting but a valid one, reads beyond it).
local gap_wait = 0
if gap > 0 and (around > 0 or gap > window) then
  local close = redis.call('ZREVRANGEBYSCORE', KEYS[1], string.format('(%d', now + gap),
                           string.format('(%d', now - gap), 'WITHSCORES', 'LIMIT', 0, 1)
  if #close > 0 then
    gap_wait = tonumber(close[2]) + gap - now
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
--
-- The reservation first, and only if no key holds it (NX): the MGET above saw no string
-- there, so this fails only for a reservation of another type (a hash written by an older
-- layout), which is 'already' too (found only here, after the windows: while they block,
-- such a slot is told 'blocked'). Nothing has been written when it fails. It lives as long
-- as its week counter, so a release finds the counters it names.
local week_ttl = string.format('%d', math.ceil(to_monday / 1e6) + grace)
if not redis.call('SET', KEYS[4], ARGV[1] .. ' ' .. KEYS[2] .. ' ' .. KEYS[3], 'NX', 'EX',
                  week_ttl) then
  return reply('already', '-', 0, hour, day, week)
end
redis.call('ZADD', KEYS[1], ARGV[1], id)
-- Trimming is lazy: only once the cut-off has moved a whole window past the mark, about
-- once an hour rather than on every action (it costs three writes). Entries between the
-- mark and the cut-off stay a little longer and are still checked exactly.
--
-- TTLs of the hour zset and the mark. Like the counters' TTLs (derived from instants but
-- counted by the server's clock), they assume instants follow the server's clock, as they
-- do in production (Redis TIME, or a worker's clock near it). The zset gets its TTL
-- (long_ttl = horizon + a day) when trimming, and when no entry lay within a window of now
-- (then the zset may have been empty, i.e. absent, and this ZADD created it): a zset that
-- held an entry near now existed, with a TTL from an earlier action, so every zset has one.
-- Between two trims instants move on by at most a window (trimming happens as soon as the
-- cut-off passes mark + window), so the zset still lives at least long_ttl - window =
-- horizon + 23 h after its newest action: longer than any check reads back (the horizon).
-- The mark must not expire before the zset (without it a stale instant would be checked
-- against a trimmed zset): it is written only when trimming, with a TTL one window longer
-- than the zset's, and the zset's TTL is otherwise renewed only within that window.
local cutoff = now - horizon
if mark == nil or cutoff > mark + window then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('(%d', cutoff))
  redis.call('SET', KEYS[5], string.format('%d', cutoff), 'EX',
             string.format('%d', long_ttl + window / 1e6))
  redis.call('EXPIRE', KEYS[1], string.format('%d', long_ttl))
elseif around == 0 then
  redis.call('EXPIRE', KEYS[1], string.format('%d', long_ttl))
end
-- A counter gets its TTL when this INCR creates it (the MGET found none). One that exists
-- has had its TTL since it was created, here; a counter at zero (every action of the day
-- released) keeps it, and a release never creates one (see guard_release).
day = redis.call('INCR', KEYS[2])
if not got[1] then
  redis.call('EXPIRE', KEYS[2], string.format('%d', math.ceil(to_midnight / 1e6) + grace))
end
week = redis.call('INCR', KEYS[3])
if not got[2] then redis.call('EXPIRE', KEYS[3], week_ttl) end
return reply('allowed', '-', 0, hour + 1, day, week)
