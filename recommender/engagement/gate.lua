-- Atomic reservation of one offer (called from recommender/engagement/gate.py).
-- KEYS[1] decision of this offer_id, KEYS[2] the user's sent counter for one local day,
-- KEYS[3] the user+item cooldown. All three carry the user's hash tag: one Cluster slot.
-- ARGV: dedupe TTL s, daily cap, counter TTL s, cooldown TTL s (0 = none), now (Unix s).
-- Returns 'sent', 'duplicate', 'cooldown' or 'cap'. The first decision about an offer_id is
-- stored, so a redelivered or concurrently decided offer is answered 'duplicate' and never
-- sent or counted twice.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 'duplicate'
end
local cooldown = tonumber(ARGV[4])
local outcome = 'sent'
if cooldown > 0 and redis.call('EXISTS', KEYS[3]) == 1 then
  outcome = 'cooldown'
elseif tonumber(redis.call('GET', KEYS[2]) or '0') >= tonumber(ARGV[2]) then
  outcome = 'cap'
end
redis.call('SET', KEYS[1], outcome, 'EX', ARGV[1])
if outcome == 'sent' then
  redis.call('INCR', KEYS[2])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
  if cooldown > 0 then
    redis.call('SET', KEYS[3], ARGV[5], 'EX', cooldown)
  end
end
return outcome
