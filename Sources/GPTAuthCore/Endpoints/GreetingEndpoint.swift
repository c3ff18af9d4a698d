/// `GET /api/greeting`: the sample protected API. It shows what every protected call does: check
/// the bearer token for this API's GPT (S20), then answer for the signed-in user.
///
/// Which GPT(s) an API serves comes from `GPTAUTH_CLIENT_ID` (comma-separated client ids): a
/// `fastcgi_param` of the nginx location, or the process environment.
public struct GreetingEndpoint: Endpoint {
    public let service: Service
    public let log: Log
    public var errorStyle: ErrorStyle { .json }
    let gate: UsageGate
    let defaultAudience: String?

    public init(service: Service, defaultAudience: String?) {
        self.service = service
        self.log = Log(component: "greeting", auditFolder: service.dataFolder)
        self.gate = UsageGate(store: service.store)
        self.defaultAudience = defaultAudience
    }

    public struct Greeting: Codable, Sendable, Equatable {
        public var message: String
        public var email: String
        public var user_id: String
        public var calls_today: Int
        public var remaining_today: Int?
    }

    public func respond(to request: Request) throws -> Response {
        guard request.method == "GET" || request.method == "HEAD" else {
            throw HTTPError(status: 405, "Use GET.", headers: [("Allow", "GET")])
        }
        let admission: UsageGate.Admission
        do {
            admission = try gate.admit(request, audience: try Audience.of(request, default: defaultAudience, log: log),
                                       now: service.clock.now())
        } catch let refusal as GateRefusal {
            refusal.audit(log, request)
            return refusal.response
        }
        let access = admission.access
        return .json(200, Greeting(message: "Hello, \(access.email)! You are signed in.", email: access.email,
                                   user_id: access.userID, calls_today: admission.usage.dayCount,
                                   remaining_today: admission.remainingToday))
    }
}

/// Which GPT(s) a protected location serves: `GPTAUTH_CLIENT_ID` (comma-separated client ids) from
/// the nginx location's `fastcgi_param`, else from the pool's environment.
public enum Audience {
    public static func of(_ request: Request, default fallback: String?, log: Log) throws -> Set<String> {
        guard let configured = request.params["GPTAUTH_CLIENT_ID"] ?? fallback, !configured.isEmpty else {
            log.error("no_audience", ["hint": "set fastcgi_param GPTAUTH_CLIENT_ID in the nginx location"])
            throw HTTPError.unavailable("This API is not yet linked to a GPT.")
        }
        return Set(configured.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
    }
}

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
