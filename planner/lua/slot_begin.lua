-- slot_begin: claim a slot for its run, with every check that must be atomic with the claim:
-- still pending and unchanged (I3), the breaker, and no consecutive-day engagement of the
-- profile (I5), from the ledger and from the runs in flight.
--
-- KEYS[1]  slot hash (eng:{acct}:slot:<id>)
-- KEYS[2]  ledger hash (eng:{acct}:ledger)
-- KEYS[3]  in-flight hash (eng:{acct}:inflight): profile key -> '<slot id> <YYYY-MM-DD>'
-- KEYS[4]  breaker hash (eng:{acct}:breaker)
-- ARGV[1]  claimed_at: ISO 8601 instant with offset
-- ARGV[2]  scheduled_at as the caller read it (ISO); the slot must still hold it
-- ARGV[3]  linkedin_url as the caller read it; the slot must still hold it
-- ARGV[4]  profile key: the field of this profile in the ledger and in-flight hashes
-- ARGV[5]  today: the account's local date now (YYYY-MM-DD); paused_day equal to it blocks
-- ARGV[6]  engaged-since: 'YYYY-MM-DDTHH:MM:SS', UTC, whole seconds: the first instant of
--          the local day before the slot's day. A ledger last_done_at at or after it blocks
-- ARGV[7]  the slot's local day d (YYYY-MM-DD); ARGV[8] d - 1; ARGV[9] d + 1
-- ARGV[10] slot id
-- ARGV[11] TTL of the in-flight hash, seconds (refreshed on every claim)
--
-- Returns {code, detail, ledger entry JSON or ''}
--    1  claimed: status claimed, claimed_at, attempts + 1, in-flight entry '<id> <d>' set
--    2  claimed but NOT registered in flight: another slot of this profile whose day is
--       d - 1, d or d + 1 is in flight (detail: its entry). The caller gives the claim back
--       by re-timing the slot (or marks it missed); it must not run the handler
--    0  not pending (detail: the status): nothing changed
--   -1  no such slot
--   -2  pending, but scheduled_at or linkedin_url changed since the caller read them
--   -3  the breaker paused the account today: nothing changed
--   -4  the ledger says the profile was engaged on d - 1 or d (detail: last_done_at)
-- Errors   "CORRUPT ..." (attempts not an integer, an unreadable ledger entry) or WRONGTYPE
--          (a key of another type): every read and check happens before the first write,
--          because a script error does not roll back earlier writes.
local f = redis.call('HMGET', KEYS[1], 'status', 'attempts', 'scheduled_at', 'linkedin_url')
if not f[1] then
  if redis.call('EXISTS', KEYS[1]) == 0 then
    return {-1, '', ''}
  end
  return {0, '', ''}
end
if f[1] ~= 'pending' then
  return {0, f[1], ''}
end
if f[3] ~= ARGV[2] or f[4] ~= ARGV[3] then
  return {-2, '', ''}
end
local attempts = tonumber(f[2])
if attempts == nil or attempts ~= math.floor(attempts) then
  return redis.error_reply('CORRUPT field attempts is not an integer')
end
-- Reads of a key of another type fail here (WRONGTYPE), before the first write.
if redis.call('HGET', KEYS[4], 'paused_day') == ARGV[5] then
  return {-3, ARGV[5], ''}
end

local entry = redis.call('HGET', KEYS[2], ARGV[4])
if entry then
  local ok, decoded = pcall(cjson.decode, entry)
  if not ok or type(decoded) ~= 'table' then
    return redis.error_reply('CORRUPT ledger field ' .. ARGV[4] .. ' is not JSON')
  end
  local done = decoded['last_done_at']
  if done ~= nil and done ~= cjson.null then
    if type(done) ~= 'string' then
      return redis.error_reply('CORRUPT ledger field ' .. ARGV[4] .. ': last_done_at')
    end
    local head, tail = string.match(done, '^(%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d)(.*)$')
    local utc = tail and (tail == 'Z' or tail == '+00:00' or string.match(tail, '^%.%d+Z$')
      or string.match(tail, '^%.%d+%+00:00$'))
    if not utc then
      return redis.error_reply('CORRUPT ledger field ' .. ARGV[4] .. ': last_done_at ' .. done)
    end
    -- Whole seconds compare as text; engaged-since is itself a whole second.
    if head >= ARGV[6] then
      return {-4, done, entry}
    end
  end
end

local holder = redis.call('HGET', KEYS[3], ARGV[4])
local blocked = false
if holder then
  local other, day = string.match(holder, '^(%S+) (%S+)$')
  blocked = other ~= ARGV[10] and (day == ARGV[7] or day == ARGV[8] or day == ARGV[9])
end
redis.call('HSET', KEYS[1], 'status', 'claimed', 'claimed_at', ARGV[1],
           'attempts', tostring(attempts + 1))
if blocked then
  return {2, holder, entry or ''}
end
redis.call('HSET', KEYS[3], ARGV[4], ARGV[10] .. ' ' .. ARGV[7])
redis.call('EXPIRE', KEYS[3], tonumber(ARGV[11]))
return {1, '', entry or ''}
