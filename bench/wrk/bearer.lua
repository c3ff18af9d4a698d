-- GET with "Authorization: Bearer <token>", cycling through the seeded users' access tokens
-- (BENCH_LIST). Used for every GET run, the references included, so the client's cost is the same.
local tokens = {}
for line in io.lines(os.getenv("BENCH_LIST")) do
    if #line > 0 then tokens[#tokens + 1] = line end
end
local i = 0

request = function()
    i = i % #tokens + 1
    return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. tokens[i] })
end
