-- Atomic reservation of many offers, in order (called from recommender/engagement/gate.py).
-- ARGV[1] dedupe TTL s, ARGV[2] daily cap, ARGV[3] counter TTL s, ARGV[4] now (Unix s, as
-- logged), ARGV[5] decision-log length kept; then 6 ARGV per entry:
--   mode, offer_id, kind, item key, channel, x
-- mode 'r' reserves the offer (x = cooldown s, 0 = none; also the key's TTL) and takes 4 KEYS: its decision,
-- the user's sent counter of one local day, the user+item cooldown, the user's decision log.
-- Any other mode is an outcome the pure policy already decided ('hold', 'suppress'; x = the
-- reason); it is only logged and takes 1 KEY, the decision log.
-- Every key names its user's hash tag; gate.py never mixes Cluster slots in one call.
-- Returns one character per entry: 's' sent, 'd' duplicate, 'c' cooldown, 'a' cap (over the
-- daily cap), '.' logged only. The first decision about an offer_id is stored, so a redelivered
-- or concurrently decided offer is answered 'duplicate' and never sent or counted twice.
local dedupe_ttl, cap, counter_ttl, now, kept = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
local codes = {sent = 's', duplicate = 'd', cooldown = 'c', cap = 'a'}
-- The cooldown key holds the decision time of the last send. It is compared with this
-- decision's time rather than trusted to expire: decisions use event time, which in a replay
-- or a simulation runs far faster than the key's (wall-clock) TTL.
local function in_cooldown(last, cooldown)
  return last and tonumber(now) < tonumber(last) + cooldown
end
local out = {}
local k = 1
for a = 6, #ARGV, 6 do
  local mode, offer_id, kind, item, channel, x =
    ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5]
  local outcome, reason, code, log
  if mode == 'r' then
    local decision, sent, cool = KEYS[k], KEYS[k + 1], KEYS[k + 2]
    log = KEYS[k + 3]
    k = k + 4
    local cooldown = tonumber(x)
    local verdict = 'sent'
    if redis.call('EXISTS', decision) == 1 then
      verdict = 'duplicate'
    elseif cooldown > 0 and in_cooldown(redis.call('GET', cool), cooldown) then
      verdict = 'cooldown'
    elseif tonumber(redis.call('GET', sent) or '0') >= cap then
      verdict = 'cap'
    end
    if verdict ~= 'duplicate' then
      redis.call('SET', decision, verdict, 'EX', dedupe_ttl)
    end
    if verdict == 'sent' then
      -- The counter only has to outlive its local day (<= 25 h) from its first send.
      if redis.call('INCR', sent) == 1 then
        redis.call('EXPIRE', sent, counter_ttl)
      end
      if cooldown > 0 then
        redis.call('SET', cool, now, 'EX', cooldown)
      end
      outcome, reason = 'send', ''
    else
      outcome, reason = 'suppress', verdict
    end
    code = codes[verdict]
  else
    log = KEYS[k]
    k = k + 1
    outcome, reason, code = mode, x, '.'
  end
  redis.call('XADD', log, 'MAXLEN', '~', kept, '*', 'offer_id', offer_id, 'kind', kind,
    'item', item, 'outcome', outcome, 'reason', reason, 'channel', channel, 'at', now)
  out[#out + 1] = code
end
return table.concat(out)
