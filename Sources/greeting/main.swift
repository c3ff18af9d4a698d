// GET /api/greeting — the sample API protected by GPTAuth's bearer tokens.
import GPTAuthCore
#if canImport(Glibc)
import Glibc
#endif

// The GPT(s) it serves: GPTAUTH_CLIENT_ID, or the file `gptauth hosting install` writes beside it.
let audience = getenv("GPTAUTH_CLIENT_ID").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
    ?? DataFolderLocation.setting(HostingInstall.clientIDName)
Service.run { GreetingEndpoint(service: $0, defaultAudience: audience) }
