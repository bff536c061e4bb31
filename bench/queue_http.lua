-- wrk script for bench/queue_http.py.
-- Arguments (after wrk's "--"): <method> <path> [<threads> <tokens file> <first index>].
-- With a tokens file every request carries the next user's token (thread t of
-- n sends tokens first+t, first+t+n, ...; past the end it wraps round, and the
-- re-joins show as 200s). done() prints one JSON line of figures.
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  method, path = args[1], args[2]
  tokens = {}
  if args[3] then
    step = tonumber(args[3])
    for line in io.lines(args[4]) do tokens[#tokens + 1] = line end
    index = tonumber(args[5]) + tid
  end
  statuses = {}
  fixed = wrk.format(method, path, {["Content-Length"] = "0"})
end

function request()
  if #tokens == 0 then return fixed end
  local token = tokens[(index % #tokens) + 1]
  index = index + step
  return wrk.format(method, path, {["Authorization"] = "Token " .. token, ["Content-Length"] = "0"})
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do counts[status] = (counts[status] or 0) + n end
  end
  local parts = {}
  for status, n in pairs(counts) do parts[#parts + 1] = string.format('"%d": %d', status, n) end
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "p50_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f, "socket_errors": %d, "statuses": {%s}}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    table.concat(parts, ", ")))
end
