-- slot_finish: claimed -> a terminal status, plus the ledger entry, in one step.
--
-- KEYS[1]  slot hash (eng:{acct}:slot:<id>)
-- KEYS[2]  ledger hash (eng:{acct}:ledger)
-- ARGV[1]  new status (a terminal one; checked by the caller)
-- ARGV[2]  finished_at: ISO 8601 instant with offset
-- ARGV[3]  reason (free text, may be empty)
-- ARGV[4]  ledger field: the profile key, or '' to leave the ledger alone
-- ARGV[5]  ledger value: LedgerEntry JSON (ignored when ARGV[4] is '')
--
-- Returns  {1, 'claimed'}   finished
--          {0, <status>}     the slot is not claimed: nothing changed
--          {-1, ''}          no such slot
-- Errors   "CORRUPT ..." when the ledger key is not a hash (checked before any write:
--          a script error does not roll back earlier writes)
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {-1, ''}
end
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'claimed' then
  return {0, status or ''}
end
if ARGV[4] ~= '' then
  local kind = redis.call('TYPE', KEYS[2])['ok']
  if kind ~= 'hash' and kind ~= 'none' then
    return redis.error_reply('CORRUPT ledger key holds a ' .. kind)
  end
end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'finished_at', ARGV[2], 'reason', ARGV[3])
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[2], ARGV[4], ARGV[5])
end
return {1, status}
