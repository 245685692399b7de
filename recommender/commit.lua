-- Atomic batch commit with optimistic checks (called from recommender/store.py).
-- ARGV layout:
--   nw, then nw triples (watermark key, expected value or '' if missing, new value),
--   nu, then nu triples (profile key, expected version bytes or '' if missing, new blob),
--   then generic ops as (argc, command, args...) until the end; the pseudo-command
--   ZINCRMANY key "incr<TAB>member<LF>..." increments many members of one sorted set.
-- A profile blob carries its 8-byte version at bytes 3..10 (see profile_codec.py).
-- Returns {1, nops} after writing everything, or {0, key} when a check failed and nothing
-- was written. Keys travel in ARGV because the set is dynamic; in Redis Cluster one batch
-- would need one slot, which docs/scaling.md addresses.
local nw = tonumber(ARGV[1])
local w0 = 2
local nu = tonumber(ARGV[w0 + 3 * nw])
local u0 = w0 + 3 * nw + 1
for j = 0, nw - 1 do
  local k = w0 + 3 * j
  local cur = redis.call('GET', ARGV[k]) or ''
  if cur ~= ARGV[k + 1] then return {0, ARGV[k]} end
end
for j = 0, nu - 1 do
  local k = u0 + 3 * j
  local cur = redis.call('GET', ARGV[k])
  local ver = cur and string.sub(cur, 3, 10) or ''
  if ver ~= ARGV[k + 1] then return {0, ARGV[k]} end
end
for j = 0, nw - 1 do
  local k = w0 + 3 * j
  redis.call('SET', ARGV[k], ARGV[k + 2])
end
for j = 0, nu - 1 do
  local k = u0 + 3 * j
  redis.call('SET', ARGV[k], ARGV[k + 2])
end
local i = u0 + 3 * nu
local nops = 0
local n = #ARGV
while i <= n do
  local argc = tonumber(ARGV[i])
  if ARGV[i + 1] == 'ZINCRMANY' then
    -- ZINCRMANY key "incr<TAB>member<LF>...": a sorted-set batch in one argument, because
    -- encoding thousands of small arguments costs the worker more than Redis parsing one.
    local key = ARGV[i + 2]
    for incr, member in string.gmatch(ARGV[i + 3], '([^\t\n]+)\t([^\n]+)') do
      redis.call('ZINCRBY', key, incr, member)
    end
  else
    redis.call(unpack(ARGV, i + 1, i + argc))
  end
  i = i + argc + 1
  nops = nops + 1
end
return {1, nops}
