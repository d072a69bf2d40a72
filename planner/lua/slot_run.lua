-- slot_run: the start of a slot's run in one atomic step (worker/execute.py, its common
-- path): read the server's clock, check the slot is due and on time, claim it with every
-- check of slot_begin (I3, the breaker, I5), and reserve the action in the guard (I1, I2).
-- It does only what the common case needs; anything else it leaves, changing nothing, to
-- the caller's longer path (separate steps, each with its own checks and messages).
--
-- KEYS[1..4]   as slot_begin: slot hash, ledger hash, in-flight hash, breaker hash
-- KEYS[5]      the account's demo time map (eng:{acct}:clock); absent: real time
-- KEYS[6..10]  as guard_reserve: hour zset, day counter, week counter, reservation, trim
--              mark; the day and ISO week of the slot's own local date d
-- ARGV[1]  slot id
-- ARGV[2]  the caller's d (from the slot id), the I5 bounds and the UTC dates of the
--          window, one space-separated string: 'd d-1 d+1 engaged_since u0 u1 u2'
--          (slot_begin's ARGV[7], [8], [9] and [6]; u0 the UTC date the window starts on,
--          u1 and u2 the next two: a window lasts at most a local day, 25 hours)
-- ARGV[3]  the day's constants, six little-endian doubles ('<dddddd'): the operating
--          window's start and end on d (epoch us), the late tolerance (us), how early a
--          job may arrive and wait (real us), the in-flight TTL (s), the first second of
--          u0 (epoch s)
-- ARGV[4]  guard_reserve's ARGV[3] (the caps, packed)
-- ARGV[5]  guard_reserve's ARGV[4] (the ends of d and of its ISO week, packed)
--
-- "Now" is the server's TIME through the time map (virtual = virtual_origin +
-- (real - real_origin) * speed). Every instant here is an integer of epoch microseconds.
--
-- Returns one string (a single bulk reply is the cheapest for the client to read):
--   'L <why>'          left to the caller's longer path; nothing written. The slot's date
--                      is not d, it predates the at_us / profile_key fields, it has no
--                      profile, the map predates its _us fields, or the run is late or
--                      outside the window (it is re-timed or missed there)
--   'N'                no such slot;  'S <status>'  not pending: nothing written
--   'W <real us>'      due within the early wait: wait that long and call again
--   'X <real us>'      further ahead than that: a stray early copy; nothing written
--   'B <code> <now> <detail>'  slot_begin refused without claiming (-3 paused, -4
--                      engaged on d - 1 or d: detail is last_done_at); nothing written
--   '{...}'            claimed (JSON, every value a string): c (slot_begin's 1 or 2),
--                      detail (2: the other run's in-flight entry), guard (guard_reserve's
--                      reply; '' unless c is 1), now and real (us), speed, ledger (the
--                      profile's entry JSON or ''), and the slot: url, key, name, at (ISO),
--                      forced, attempts (this run's). With c 2, or with the guard's
--                      'blocked', the slot is claimed and nothing reserved: the caller gives
--                      the claim back by re-timing the slot, or marks it missed
-- Errors   slot_begin's, raised before anything is written. guard_reserve's (a counter that
--          is not a number) come after the claim, as they do when the two run as separate
--          steps: the slot is left claimed, so it is reported unknown and never run, and
--          nothing is reserved.

--! include slot_begin
--! include guard_reserve

local function fail(reply)
  return type(reply) == 'table' and reply['err'] ~= nil
end

local f = redis.call('HMGET', KEYS[1], 'status', 'date', 'at_us', 'profile_key',
                     'linkedin_url', 'scheduled_at', 'name', 'forced', 'attempts')
if not f[1] then
  if redis.call('EXISTS', KEYS[1]) == 0 then return 'N' end
  return 'L no status'
end
if f[1] ~= 'pending' then return 'S ' .. f[1] end
local d, d_before, d_after, since, u0, u1, u2 = string.match(ARGV[2],
  '^(%S+) (%S+) (%S+) (%S+) (%S+) (%S+) (%S+)$')
if f[2] ~= d then return 'L another day' end
local at = tonumber(f[3] or '')
if at == nil or not f[4] then return 'L older layout' end
if f[5] == '' or f[4] == '' then return 'L no profile' end

local time = redis.call('TIME')
local real = tonumber(time[1]) * 1000000 + tonumber(time[2])
local now, speed = real, 1
local map = redis.call('HMGET', KEYS[5], 'real_origin_us', 'virtual_origin_us', 'speed')
if map[1] or map[2] or map[3] then
  local origin, virtual, s = tonumber(map[1] or ''), tonumber(map[2] or ''), tonumber(map[3] or '')
  if origin == nil or virtual == nil or s == nil or s <= 0 then return 'L older time map' end
  now = math.floor(virtual + (real - origin) * s + 0.5)
  speed = s
end

local start, stop, tolerance, early_wait, ttl, u0_start = struct.unpack('<dddddd', ARGV[3])
if at > now then
  local wait = math.ceil((at - now) / speed)
  if wait > early_wait then return string.format('X %d', wait) end
  return string.format('W %d', wait)
end
if now - at > tolerance or now < start or now >= stop then return 'L late' end

local now_text = string.format('%d', now)
-- claimed_at as Python prints instants (isoformat in UTC; the fraction only when not 0)
local secs = math.floor(now / 1000000)
local micros = now - secs * 1000000
local of_day, date = secs - u0_start, u0
if of_day >= 86400 then of_day, date = of_day - 86400, u1 end
if of_day >= 86400 then of_day, date = of_day - 86400, u2 end
local claimed_at = string.format('%sT%02d:%02d:%02d', date, math.floor(of_day / 3600),
  math.floor(of_day % 3600 / 60), of_day % 60)
if micros > 0 then claimed_at = claimed_at .. string.format('.%06d', micros) end
claimed_at = claimed_at .. '+00:00'
local begun = slot_begin({KEYS[1], KEYS[2], KEYS[3], KEYS[4]}, {
  claimed_at, f[6], f[5], f[4], d, since, d, d_before, d_after, ARGV[1],
  string.format('%d', ttl)})
if fail(begun) then return begun end
local code = begun[1]
if code ~= 1 and code ~= 2 then
  return 'B ' .. tostring(code) .. ' ' .. now_text .. ' ' .. begun[2]
end

local guard = ''
if code == 1 then
  guard = guard_reserve({KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]},
                        {now_text, ARGV[1], ARGV[4], ARGV[5]})
  if fail(guard) then return guard end
end
-- slot_begin checked attempts is an integer and added one
local attempts = string.format('%d', tonumber(f[9]) + 1)
return cjson.encode({
  c = tostring(code), detail = begun[2], guard = guard, now = now_text,
  real = string.format('%d', real), speed = string.format('%.17g', speed),
  ledger = begun[3], url = f[5], key = f[4], name = f[7], at = f[6], forced = f[8],
  attempts = attempts})
