-- wrk script for bench/peer-tools.ts: prints wrk's summary as one JSON line (requests, duration
-- and latency percentiles in microseconds, error counts) instead of parsing its text report.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"event":"result","requests":%d,"durationUs":%d,"p50Us":%.1f,"p99Us":%.1f,"p999Us":%.1f,' ..
      '"connectErrors":%d,"readErrors":%d,"writeErrors":%d,"statusErrors":%d,"timeouts":%d}\n',
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
    e.connect, e.read, e.write, e.status, e.timeout))
end
