-- Atomic commit of engagement state (called from recommender/engagement/store.py).
-- ARGV layout:
--   nw, then nw triples (watermark key, expected value or '' if missing, new value),
--   nc, then nc triples (customer key, expected SHA-1 hex of the stored blob or '' if
--   missing, new blob or '' to only check it),
--   then generic ops as (argc, command, args...) until the end.
-- Customer blobs carry no version, so the check compares a digest of the whole blob: a sweep
-- on another worker that changed the state in between makes the batch reload and re-apply.
-- Returns {1, nops} after writing everything, or {0, key} when a check failed and nothing was
-- written. Keys travel in ARGV because the set is dynamic (see docs/scaling.md on Cluster).
local nw = tonumber(ARGV[1])
local w0 = 2
local nc = tonumber(ARGV[w0 + 3 * nw])
local c0 = w0 + 3 * nw + 1
for j = 0, nw - 1 do
  local k = w0 + 3 * j
  local cur = redis.call('GET', ARGV[k]) or ''
  if cur ~= ARGV[k + 1] then return {0, ARGV[k]} end
end
for j = 0, nc - 1 do
  local k = c0 + 3 * j
  local cur = redis.call('GET', ARGV[k])
  local digest = cur and redis.sha1hex(cur) or ''
  if digest ~= ARGV[k + 1] then return {0, ARGV[k]} end
end
for j = 0, nw - 1 do
  local k = w0 + 3 * j
  redis.call('SET', ARGV[k], ARGV[k + 2])
end
for j = 0, nc - 1 do
  local k = c0 + 3 * j
  if ARGV[k + 2] ~= '' then redis.call('SET', ARGV[k], ARGV[k + 2]) end
end
local i = c0 + 3 * nc
local nops = 0
local n = #ARGV
while i <= n do
  local argc = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + argc))
  i = i + argc + 1
  nops = nops + 1
end
return {1, nops}
