-- wrk script for the anonymous-load test (S32): GPTAUTH_REQUESTS requests of the kind GPTAUTH_KIND,
-- each with fresh made-up values. Once that many are answered the thread stops and creates the file
-- GPTAUTH_DONE; the test then interrupts wrk, which prints the summary below. One thread (-t1).
-- GPTAUTH_CLIENT (a real client id), GPTAUTH_REDIRECT, GPTAUTH_HANDLE, GPTAUTH_CSRF and
-- GPTAUTH_COOKIE describe the stack and one sign-in of the caller's own.
kind = os.getenv("GPTAUTH_KIND")
limit = tonumber(os.getenv("GPTAUTH_REQUESTS"))
client = os.getenv("GPTAUTH_CLIENT") or ""
sent, answered, server_errors = 0, 0, 0

local function form(path, body, extra)
    local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
    for k, v in pairs(extra or {}) do headers[k] = v end
    return wrk.format("POST", path, headers, body)
end

function request()
    sent = sent + 1
    local n = tostring(sent)
    if kind == "token" or kind == "revoke" or kind == "introspect" then
        local path = "/oauth/" .. kind
        return form(path, "grant_type=refresh_token&refresh_token=r" .. n .. "&token=t" .. n
            .. "&client_id=gptc_madeup" .. n .. "&client_secret=s" .. n)
    elseif kind == "wrong-secret" then
        return form("/oauth/token", "grant_type=refresh_token&refresh_token=r&client_id=" .. client .. "&client_secret=wrong" .. n)
    elseif kind == "authorize" then
        return wrk.format("GET", "/oauth/authorize?response_type=code&client_id=" .. client
            .. "&redirect_uri=" .. os.getenv("GPTAUTH_REDIRECT") .. "&state=s" .. n)
    elseif kind == "email" then
        return form("/oauth/login/email", "request=" .. os.getenv("GPTAUTH_HANDLE") .. "&csrf=" .. os.getenv("GPTAUTH_CSRF")
            .. "&email=victim" .. n .. "%40example.com", { Cookie = os.getenv("GPTAUTH_COOKIE") })
    elseif kind == "wrong-code" then
        return form("/oauth/login/email/verify", "request=" .. os.getenv("GPTAUTH_HANDLE") .. "&csrf=" .. os.getenv("GPTAUTH_CSRF")
            .. "&code=" .. string.format("%06d", sent % 1000000), { Cookie = os.getenv("GPTAUTH_COOKIE") })
    elseif kind == "forged-form" then
        return form("/oauth/login/email", "request=" .. os.getenv("GPTAUTH_HANDLE") .. "&csrf=forged" .. n .. "&email=a%40example.com",
            { Cookie = os.getenv("GPTAUTH_COOKIE") })
    else -- "bad-token"
        return wrk.format("GET", "/api/greeting", { Authorization = "Bearer gpa_at_madeup" .. n })
    end
end

function response(status, headers, body)
    answered = answered + 1
    if status >= 500 then server_errors = server_errors + 1 end
    if answered == limit then
        local done = io.open(os.getenv("GPTAUTH_DONE"), "w")
        if done then done:write(tostring(answered)); done:close() end
        wrk.thread:stop()
    end
end

threads = {}
function setup(thread) table.insert(threads, thread) end

function done(summary, latency, requests)
    local total, errors = 0, 0
    for _, thread in ipairs(threads) do
        total = total + thread:get("answered")
        errors = errors + thread:get("server_errors")
    end
    io.write(string.format("anonymous: answered=%d server_errors=%d\n", total, errors))
end
