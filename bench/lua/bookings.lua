-- POST /api/bookings, every request a slot of its own: one-hour bookings 09:00-22:00 spread
-- over the halls in BENCH_HALLS (comma-separated ids), day after day from BENCH_FIRST_DAY
-- (YYYY-MM-DD). Thread t of T takes the t-th, (T+t)-th, ... slot, so no two ever overlap.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

local threads_started = 0
setup = function(thread)
  thread:set("id", threads_started)
  threads_started = threads_started + 1
end

local halls, first_day, count, sent = {}, nil, 1, 0
init = function(args)
  for hall in string.gmatch(os.getenv("BENCH_HALLS"), "%d+") do halls[#halls + 1] = hall end
  local y, m, d = string.match(os.getenv("BENCH_FIRST_DAY"), "(%d+)-(%d+)-(%d+)")
  first_day = os.time({year = tonumber(y), month = tonumber(m), day = tonumber(d), hour = 12})
  count = tonumber(os.getenv("BENCH_THREADS"))
end

request = function()
  local n = sent * count + id
  sent = sent + 1
  local hall = halls[n % #halls + 1]
  local m = math.floor(n / #halls)
  local day = os.date("%Y-%m-%d", first_day + math.floor(m / 13) * 86400)
  local hour = 9 + m % 13
  local body = string.format(
    '{"hall_id": %s, "start": "%sT%02d:00", "end": "%sT%02d:00", ' ..
    '"customer": {"name": "Bench %d", "phone": "+7 903 000-00-00"}}',
    hall, day, hour, day, hour + 1, n)
  return wrk.format("POST", "/api/bookings", {["Content-Type"] = "application/json"}, body)
end
