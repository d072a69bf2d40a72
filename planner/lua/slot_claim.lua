-- slot_claim: pending -> claimed, at most once per slot (invariant I3).
--
-- KEYS[1]  slot hash (eng:{acct}:slot:<id>)
-- ARGV[1]  claimed_at: ISO 8601 instant with offset
--
-- Returns  1   claimed (status=claimed, claimed_at set, attempts + 1)
--          0   the slot is not pending: nothing changed
--         -1   no such slot
-- Errors   "CORRUPT ..." when attempts is not an integer (checked before any write,
--          because a script error does not roll back earlier writes)
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
local fields = redis.call('HMGET', KEYS[1], 'status', 'attempts')
if fields[1] ~= 'pending' then
  return 0
end
local attempts = tonumber(fields[2])
if attempts == nil or attempts ~= math.floor(attempts) then
  return redis.error_reply('CORRUPT field attempts is not an integer')
end
redis.call('HSET', KEYS[1], 'status', 'claimed', 'claimed_at', ARGV[1],
           'attempts', tostring(attempts + 1))
return 1
