-- One scenario of bench/run.sh for wrk, set by environment variables:
--   BENCH_COOKIE  the session cookie (Cookie header value)
--   BENCH_MODE    get (default) | stance | comment
--   BENCH_CSRF    the session's CSRF token (for stance and comment)
-- Prints one RESULT line that run.sh reads.
local cookie = os.getenv("BENCH_COOKIE")
local mode = os.getenv("BENCH_MODE") or "get"
local csrf = os.getenv("BENCH_CSRF") or ""
local positions = { "agree", "disagree", "abstain" }
local n = 0

if cookie then
  wrk.headers["Cookie"] = cookie
end
if mode ~= "get" then
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

request = function()
  n = n + 1
  if mode == "stance" then
    -- Alternate positions: each request is a real change of stance.
    return wrk.format(nil, nil, nil,
      "csrf_token=" .. csrf .. "&position=" .. positions[n % 3 + 1] .. "&reason=")
  elseif mode == "comment" then
    return wrk.format(nil, nil, nil,
      "csrf_token=" .. csrf .. "&body=Benchmark+comment+number+" .. n)
  end
  return wrk.format()
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d socket_errors=%d status_errors=%d p50_us=%d p99_us=%d bytes=%d\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), summary.bytes))
end
