-- wrk's summary as one JSON line (latencies in microseconds), read by bench/load.py.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "errors": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end

-- BENCH_DEBUG=1: print the first answer that is not a success, to see why.
if os.getenv("BENCH_DEBUG") then
  local shown = false
  response = function(status, headers, body)
    if status >= 400 and not shown then
      shown = true
      io.stderr:write(status .. " " .. body .. "\n")
    end
  end
end
