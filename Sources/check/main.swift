// The nginx auth_request gate: token, limits and metering in front of any upstream API.
import GPTAuthCore
#if canImport(Glibc)
import Glibc
#endif

let audience = getenv("GPTAUTH_CLIENT_ID").map { String(cString: $0) }
Service.run { CheckEndpoint(service: $0, defaultAudience: audience) }
