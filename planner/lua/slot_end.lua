-- slot_end: a run's outcome in one step: the slot (claimed -> outcome), the ledger entry,
-- the end of its in-flight entry, the breaker's count and the write-back outbox.
--
-- KEYS[1]  slot hash (eng:{acct}:slot:<id>)
-- KEYS[2]  ledger hash (eng:{acct}:ledger)
-- KEYS[3]  in-flight hash (eng:{acct}:inflight)
-- KEYS[4]  breaker hash (eng:{acct}:breaker)
-- KEYS[5]  outbox list (eng:{acct}:outbox)
-- ARGV[1]  the outcome: a terminal status (checked by the caller)
-- ARGV[2]  finished_at: ISO 8601 instant with offset
-- ARGV[3]  reason (free text, may be empty)
-- ARGV[4]  profile key: ledger and in-flight field
-- ARGV[5]  ledger value: LedgerEntry JSON
-- ARGV[6]  slot id: the in-flight entry is removed only while it names this slot
-- ARGV[7]  today (YYYY-MM-DD): paused_day when this outcome trips the breaker
-- ARGV[8]  breaker threshold: consecutive 'failed' outcomes that pause the account today
-- ARGV[9]  outbox item (outcome JSON), or '' to push nothing
--
-- Returns  {1, 'claimed', tripped}  finished; tripped 1 when this outcome paused the account
--          {0, <status>, 0}          the slot is not claimed any more (the run outlived its
--          {-1, '', 0}               worker, or the week was replaced): only the ledger entry
--                                    is written and the in-flight entry (if it names this
--                                    slot) removed; slot, breaker and outbox are left alone
-- Errors   "CORRUPT ..." when failures is not an integer, WRONGTYPE when a key holds another
--          type; every check happens before the first write (a script error does not roll
--          back earlier writes).
-- Every read first: a key of another type fails a read (WRONGTYPE) before any write.
local status = redis.call('HGET', KEYS[1], 'status')
local holder = redis.call('HGET', KEYS[3], ARGV[4])
local failures = redis.call('HGET', KEYS[4], 'failures')
if failures and tonumber(failures) == nil then
  return redis.error_reply('CORRUPT ' .. KEYS[4] .. ' failures is not an integer')
end
if ARGV[9] ~= '' then
  redis.call('LLEN', KEYS[5])
end
redis.call('HSET', KEYS[2], ARGV[4], ARGV[5])  -- the first write: it fails or writes alone
if holder and string.sub(holder, 1, #ARGV[6] + 1) == ARGV[6] .. ' ' then
  redis.call('HDEL', KEYS[3], ARGV[4])
end
if not status then
  return {-1, '', 0}
end
if status ~= 'claimed' then
  return {0, status, 0}
end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'finished_at', ARGV[2], 'reason', ARGV[3])
local tripped = 0
if ARGV[1] == 'failed' then
  if redis.call('HINCRBY', KEYS[4], 'failures', 1) >= tonumber(ARGV[8]) then
    redis.call('HSET', KEYS[4], 'paused_day', ARGV[7], 'failures', '0')
    tripped = 1
  end
elseif failures and failures ~= '0' then
  redis.call('HSET', KEYS[4], 'failures', '0')  -- only a streak to end is a write
end
if ARGV[9] ~= '' then
  redis.call('RPUSH', KEYS[5], ARGV[9])
end
return {1, status, tripped}
