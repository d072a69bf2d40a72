-- slot_rebind: re-bind the profile of every listed slot that is still pending (revise).
-- Slots of another week, missing slots and slots no longer pending are left alone.
--
-- KEYS[1]     week meta hash (eng:{acct}:week:<YYYY-MM-DD>)
-- KEYS[2..n]  slot hashes
-- ARGV[1]     week_start (YYYY-MM-DD) the slots must belong to
-- ARGV[2..]   six values per slot, in KEYS order: linkedin_url, profile_key (its ledger
--             field), name, priority_score, days_since_last_like, forced ('1' / '0')
--
-- Returns  {1, i, j, ...}  positions (1-based, among the slot keys) that were re-bound;
--                          the meta's revision is incremented when there is at least one
--          {-1}            no such week: nothing changed
-- Errors   "CORRUPT ..." when the meta's revision is not an integer. Every read happens
--          before the first write: a script error does not roll back earlier writes.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {-1}
end
local revision = tonumber(redis.call('HGET', KEYS[1], 'revision'))
if revision == nil or revision ~= math.floor(revision) then
  return redis.error_reply('CORRUPT field revision is not an integer')
end
local todo = {}
for i = 2, #KEYS do
  local fields = redis.call('HMGET', KEYS[i], 'status', 'week_start')
  if fields[1] == 'pending' and fields[2] == ARGV[1] then
    todo[#todo + 1] = i
  end
end
local out = {1}
for _, i in ipairs(todo) do
  local base = 1 + (i - 2) * 6
  redis.call('HSET', KEYS[i],
    'linkedin_url', ARGV[base + 1], 'profile_key', ARGV[base + 2], 'name', ARGV[base + 3],
    'priority_score', ARGV[base + 4], 'days_since_last_like', ARGV[base + 5],
    'forced', ARGV[base + 6])
  out[#out + 1] = i - 1
end
if #todo > 0 then
  redis.call('HSET', KEYS[1], 'revision', tostring(revision + 1))
end
return out
