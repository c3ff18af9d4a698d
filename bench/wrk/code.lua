-- POST /oauth/token exchanging pre-issued authorization codes (BENCH_LIST), each one once,
-- starting at line BENCH_OFFSET + 1 (earlier rounds used the lines before it).
local codes = {}
for line in io.lines(os.getenv("BENCH_LIST")) do
    if #line > 0 then codes[#codes + 1] = line end
end
local i = tonumber(os.getenv("BENCH_OFFSET") or "0")
local credentials = "&redirect_uri=" .. os.getenv("BENCH_REDIRECT_URI"):gsub("[:/]", function(c)
    return string.format("%%%02X", string.byte(c))
end) .. "&client_id=" .. os.getenv("BENCH_CLIENT_ID") .. "&client_secret=" .. os.getenv("BENCH_CLIENT_SECRET")
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }

request = function()
    i = i + 1
    local code = codes[i] or "exhausted"  -- answered 400 and counted as a failure
    return wrk.format("POST", "/oauth/token", headers, "grant_type=authorization_code&code=" .. code .. credentials)
end
