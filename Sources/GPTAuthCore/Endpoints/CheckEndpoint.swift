/// The nginx gate (`auth_request`): protects any upstream API with GPTAuth's tokens, limits and
/// metering. nginx sends the original request's headers here; we answer 204 with headers nginx
/// passes upstream (who is calling), or refuse.
///
/// `auth_request` passes on only 2xx, 401 and 403 (any other status becomes a 500), and never a body.
/// So a refusal carries its real status in `X-GPTAuth-Status` (401, 403, or a reached limit's 402,
/// 429 or 200) and its JSON body in `X-GPTAuth-Error`, and a reached limit is answered 403 to
/// nginx; the error_page locations in nginx/gptauth-protect-api.conf turn that back into what the
/// caller sees (with Retry-After for 402 and 429).
public struct CheckEndpoint: Endpoint {
    public let service: Service
    public let log: Log
    public static let component = "check"
    public static let errorStyle = ErrorStyle.json
    let gate: UsageGate

    public init(service: Service, defaultAudience: String?) {
        self.service = service
        self.log = service.log(Self.component)
        self.gate = UsageGate(store: service.store, defaultAudience: defaultAudience, log: log,
                              upgrades: UpgradeLinks(configuration: service.configuration, dataFolder: service.dataFolder))
    }

    /// What a location's `fastcgi_param GPTAUTH_METER` asks of this gate.
    public enum Meter: String, Sendable {
        /// Every admitted request is a counted call, refused past the plan's limits (the default).
        case calls
        /// The token, its audience and the user only: nothing counted, no plan limit. For an MCP
        /// server, where most messages (`initialize`, `tools/list`, pings) are not uses.
        case off
        /// Not a gate but an endpoint: `POST` with the user's bearer token counts one tool call and
        /// answers 200 with the count, or the refusal with its real status and a message the model
        /// can read (nginx/gptauth-protect-mcp.conf; the MCP server calls it for each tool call).
        case toolCall = "tool-call"

        static func of(_ request: Request) -> Meter { request.params["GPTAUTH_METER"].flatMap(Meter.init(rawValue:)) ?? .calls }
    }

    /// The answer to a counted tool call.
    public struct ToolCallCounted: Codable, Sendable, Equatable {
        public var counted: Bool
        public var plan: String?
        public var calls_today: Int
        public var remaining_today: Int?
    }

    public func respond(to request: Request) throws -> Response {
        let meter = Meter.of(request)
        if meter == .toolCall {
            guard request.method == "POST" else {
                throw HTTPError(status: 405, "Count a tool call with a POST.", headers: [("Allow", "POST")])
            }
            do {
                let admission = try gate.admit(request, now: service.clock.now())
                return .json(200, ToolCallCounted(counted: true, plan: admission.plan, calls_today: admission.usage.dayCount,
                                                  remaining_today: admission.remainingToday))
            } catch let refusal as GateRefusal {
                return refusal.response
            }
        }
        do {
            let admission = try gate.admit(request, now: service.clock.now(), counting: meter == .calls)
            var headers: [(String, String)] = [
                ("X-GPTAuth-User", admission.access.userID),
                ("X-GPTAuth-Email", admission.access.email),
                ("X-GPTAuth-Client", admission.access.clientID),
                ("X-GPTAuth-Plan", admission.plan ?? ""),
            ]
            if meter == .calls { headers.append(("X-GPTAuth-Calls-Today", String(admission.usage.dayCount))) }
            if let remaining = admission.remainingToday { headers.append(("X-GPTAuth-Remaining-Today", String(remaining))) }
            return Response(status: 204, headers: headers + [("Cache-Control", "no-store")])
        } catch let refusal as GateRefusal {
            var response = refusal.response
            response.headers.append(("X-GPTAuth-Status", String(refusal.status)))
            response.headers.append(("X-GPTAuth-Error", String(decoding: (try? JSON.encode(refusal.body)) ?? [], as: UTF8.self)))
            // nginx passes 401 and 403 on; the real status rides in X-GPTAuth-Status.
            if refusal.status != 401 { response.status = 403 }
            return response
        }
    }
}
