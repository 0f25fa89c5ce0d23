-- wrk script for every benchmarked SCIM operation:
--   wrk ... -s tests/bench/scim.lua <base URL> -- <op> <members> <from> <count> <tag>
-- <members> is the org's seeded size (ids m1..m<members>); writes that consume a person
-- (adoption, deactivate, reactivate, DELETE) take ids <prefix><from> .. <prefix><from+count-1>
-- from a pre-seeded pool, each thread its own interleaved slice, so no two requests in the run
-- touch the same person. <tag> makes the userNames of new people unique across runs.
-- The token comes from the environment (SCIM_BENCH_TOKEN), not the command line, so it does
-- not show in `ps`.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local op, members, from, count, tag, nthreads, k
local token = os.getenv("SCIM_BENCH_TOKEN")
local cursor = os.getenv("SCIM_BENCH_CURSOR") or ""
local path = "/scim/v2/Users"

function init(args)
  op, members, from, count, tag = args[1], tonumber(args[2]), tonumber(args[3]), tonumber(args[4]), args[5]
  nthreads = tonumber(os.getenv("SCIM_BENCH_THREADS") or "1")
  k = 0
  math.randomseed(os.time() * 100 + tid)
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["Content-Type"] = "application/scim+json"
end

-- The next id of this thread's slice of the pool. Past the end it wraps round (and the
-- requests then find nothing to change): the run prints the non-2xx count so that shows.
local function next_pool_id()
  local i = from + (tid + k * nthreads) % count
  k = k + 1
  return i
end

local function filter(expr)
  return path .. "?filter=" .. urlencode(expr)
end

local function body_person(user_name)
  return string.format(
    '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"%s",' ..
    '"name":{"givenName":"Bench","familyName":"Person"},"active":true,' ..
    '"emails":[{"value":"%s","type":"work","primary":true}]}', user_name, user_name)
end

local function patch(ops)
  return '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[' .. ops .. ']}'
end

function request()
  if op == "get_id" then
    return wrk.format("GET", path .. "/m" .. math.random(members))
  elseif op == "username_found" then
    return wrk.format("GET", filter('userName eq "m' .. math.random(members) .. '@bench.example"'))
  elseif op == "username_missing" then
    return wrk.format("GET", filter('userName eq "nobody' .. math.random(members) .. '@bench.example"'))
  elseif op == "work_email" then
    return wrk.format("GET", filter('emails[type eq "work"].value eq "m' .. math.random(members) .. '@bench.example"'))
  elseif op == "page_end" then
    -- The last full page of the org, as an IdP's full sync reaches it.
    return wrk.format("GET", path .. "?startIndex=" .. math.max(1, members - 99) .. "&count=100")
  elseif op == "page_cursor" then
    -- The same last page reached by cursor (RFC 9865): run.sh signs the cursor a client holds
    -- after walking the org up to the 101st id from the end.
    return wrk.format("GET", path .. "?cursor=" .. cursor .. "&count=100")
  elseif op == "create_new" then
    k = k + 1
    return wrk.format("POST", path, nil, body_person("new-" .. tag .. "-" .. tid .. "-" .. k .. "@bench.example"))
  elseif op == "create_adopt" then
    return wrk.format("POST", path, nil, body_person("a" .. next_pool_id() .. "@bench.example"))
  elseif op == "patch_profile" then
    k = k + 1
    return wrk.format("PATCH", path .. "/m" .. math.random(members), nil,
      patch('{"op":"replace","path":"title","value":"Title ' .. tag .. "-" .. tid .. "-" .. k .. '"}'))
  elseif op == "deactivate" then
    return wrk.format("PATCH", path .. "/d" .. next_pool_id(), nil, patch('{"op":"replace","path":"active","value":false}'))
  elseif op == "reactivate" then
    return wrk.format("PATCH", path .. "/d" .. next_pool_id(), nil, patch('{"op":"replace","path":"active","value":true}'))
  elseif op == "delete" then
    return wrk.format("DELETE", path .. "/x" .. next_pool_id())
  end
  error("unknown operation " .. tostring(op))
end

-- One machine-readable line for run.sh: requests/s, p50 and p99 in ms, non-2xx/3xx answers,
-- socket errors.
function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format("RESULT %.1f %.3f %.3f %d %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end
