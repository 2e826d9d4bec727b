-- wrk script for tools/bench_serve.sh: each request picks a random seller token (from the
-- file named by $TOKENS, one per line) and a random category, so the server answers the whole
-- mix of lists rather than one cached path.
local tokens = {}
for line in io.lines(os.getenv("TOKENS")) do
  tokens[#tokens + 1] = line
end
local categories = { "Toys", "Garden", "Home", "Books", "Beauty", "Sports" }

function setup(thread)
  thread:set("seed", math.random(1, 1000000))
end

function init()
  math.randomseed(seed)
end

function request()
  local token = tokens[math.random(#tokens)]
  local category = categories[math.random(#categories)]
  return wrk.format("GET", "/api/v1/me/recommendations?k=20&category=" .. category,
    { ["Authorization"] = "Bearer " .. token })
end

function done(summary, latency, requests)
  io.write(string.format("RESULT requests=%d errors=%d rps=%.0f p50_ms=%.2f p99_ms=%.2f\n",
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout,
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
