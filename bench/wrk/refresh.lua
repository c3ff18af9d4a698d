-- POST /oauth/token with the refresh grant, as ChatGPT does when an access token expires. A queue
-- starts with BENCH_COUNT refresh tokens from line BENCH_OFFSET + 1 of BENCH_LIST; each answer's
-- new refresh token joins the queue's end, so every token is used exactly once.
local all = {}
for line in io.lines(os.getenv("BENCH_LIST")) do
    if #line > 0 then all[#all + 1] = line end
end
local offset = tonumber(os.getenv("BENCH_OFFSET") or "0")
local count = tonumber(os.getenv("BENCH_COUNT") or "1000")
local queue, head, tail = {}, 1, 0
for n = offset + 1, math.min(offset + count, #all) do
    tail = tail + 1
    queue[tail] = all[n]
end
local credentials = "&client_id=" .. os.getenv("BENCH_CLIENT_ID") .. "&client_secret=" .. os.getenv("BENCH_CLIENT_SECRET")
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }

request = function()
    local token = "empty-queue"  -- answered 400 and counted as a failure
    if head <= tail then
        token = queue[head]
        queue[head] = nil
        head = head + 1
    end
    return wrk.format("POST", "/oauth/token", headers, "grant_type=refresh_token&refresh_token=" .. token .. credentials)
end

response = function(status, headers, body)
    local token = body:match('"refresh_token":"([^"]+)"')
    if token then
        tail = tail + 1
        queue[tail] = token
    end
end
