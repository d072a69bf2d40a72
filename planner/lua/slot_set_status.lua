-- slot_set_status: one status transition that is not a handler outcome, only if the slot
-- is still in the expected status (pending -> missed, claimed -> unknown, ...).
--
-- KEYS[1]  slot hash (eng:{acct}:slot:<id>)
-- KEYS[2]  in-flight hash (eng:{acct}:inflight)
-- ARGV[1]  expected current status
-- ARGV[2]  new status (the caller checked the transition is allowed)
-- ARGV[3]  finished_at: ISO 8601 instant, or '' to leave the field as it is
-- ARGV[4]  reason (free text, may be empty)
-- ARGV[5]  '1' to clear claimed_at (a claim given back), else '0'
-- ARGV[6]  slot id whose in-flight entry ends with this transition (a claim closed before
--          its handler ran), or '' to leave the in-flight hash alone
--
-- Returns  1  changed;  0  not in the expected status: nothing changed;  -1  no such slot
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
if redis.call('HGET', KEYS[1], 'status') ~= ARGV[1] then
  return 0
end
local ended = {}
if ARGV[6] ~= '' then
  local kind = redis.call('TYPE', KEYS[2])['ok']
  if kind ~= 'hash' and kind ~= 'none' then
    return redis.error_reply('CORRUPT ' .. KEYS[2] .. ' holds a ' .. kind)
  end
  local prefix = ARGV[6] .. ' '
  local flat = redis.call('HGETALL', KEYS[2])
  for i = 1, #flat, 2 do
    if string.sub(flat[i + 1], 1, #prefix) == prefix then
      ended[#ended + 1] = flat[i]
    end
  end
end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'reason', ARGV[4])
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[1], 'finished_at', ARGV[3])
end
if ARGV[5] == '1' then
  redis.call('HSET', KEYS[1], 'claimed_at', '')
end
if #ended > 0 then
  redis.call('HDEL', KEYS[2], unpack(ended))
end
return 1
