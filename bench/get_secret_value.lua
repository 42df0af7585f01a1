-- Replays pre-signed Secrets Manager requests with wrk.
--
-- wrk cannot compute SigV4 signatures, so bench/secrets_bench.py signs a pool of requests
-- with botocore and writes them to a file, one request per line:
--   METHOD \t PATH \t BODY \t Header: value \t Header: value ...
-- Signatures carry X-Amz-Date and stay valid for 15 minutes.
--
--   wrk -t2 -c64 -d10s --latency -s bench/get_secret_value.lua URL -- POOL MODE THREADS
--
-- MODE "cycle" (GetSecretValue): every wrk thread cycles through the whole pool.
-- MODE "once" (PutSecretValue): each request carries its own ClientRequestToken and must be
-- sent at most once (a repeat would be an idempotent no-op, not a write), so wrk thread i
-- takes every THREADS-th request starting at i; when a thread runs out it wraps and counts it,
-- and done() prints "pool wraps: N" so the caller can reject the run.

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local pool = {}
local counter = 0
wraps = 0

local function split(line)
  local fields = {}
  for field in string.gmatch(line, "[^\t]+") do
    fields[#fields + 1] = field
  end
  return fields
end

function init(args)
  local path, mode, nthreads = args[1], args[2] or "cycle", tonumber(args[3] or "1")
  local i = 0
  for line in io.lines(path) do
    if mode == "cycle" or i % nthreads == tid then
      local f = split(line)
      local headers = {}
      for h = 4, #f do
        local name, value = string.match(f[h], "^([^:]+): (.*)$")
        headers[name] = value
      end
      pool[#pool + 1] = wrk.format(f[1], f[2], headers, f[3])
    end
    i = i + 1
  end
  if #pool == 0 then
    error("empty request pool for thread " .. tid .. ": " .. path)
  end
  if mode == "cycle" then
    -- Threads start at different places so connections do not move in lockstep.
    counter = (tid * 7919) % #pool
  end
end

function request()
  counter = counter + 1
  if counter > #pool then
    counter = 1
    wraps = wraps + 1
  end
  return pool[counter]
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("wraps")
  end
  io.write(string.format("pool wraps: %d\n", total))
end
