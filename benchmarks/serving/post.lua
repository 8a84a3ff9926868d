-- wrk script of the serving benchmark: POST one fixed inference request, report JSON.
--
-- BENCH_BODY names the file holding the request body. BENCH_JSON_LENGTH, when set, is the
-- length of the JSON part of a binary tensor data request (the body's rest is tensor bytes),
-- sent as the Inference-Header-Content-Length header.

local file = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
local json_length = os.getenv("BENCH_JSON_LENGTH")
if json_length ~= nil and json_length ~= "" then
  wrk.headers["Content-Type"] = "application/octet-stream"
  wrk.headers["Inference-Header-Content-Length"] = json_length
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %.6f, "errors": %d, "p50_ms": %.4f, "p99_ms": %.4f}\n',
    summary.requests, summary.duration / 1e6,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
