/// `GET /api/greeting`: the sample protected API. It shows what every protected call does: check
/// the bearer token for this API's GPT (S20), then answer for the signed-in user.
///
/// Which GPT(s) an API serves comes from `GPTAUTH_CLIENT_ID` (comma-separated client ids): a
/// `fastcgi_param` of the nginx location, or the process environment.
public struct GreetingEndpoint: Endpoint {
    public let service: Service
    public let log: Log
    public static let component = "greeting"
    public static let errorStyle = ErrorStyle.json
    let gate: UsageGate

    public init(service: Service, defaultAudience: String?) {
        self.service = service
        self.log = service.log(Self.component)
        self.gate = UsageGate(store: service.store, defaultAudience: defaultAudience, log: log,
                              upgrades: UpgradeLinks(configuration: service.configuration, dataFolder: service.dataFolder))
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
        let admission = try gate.admit(request, now: service.clock.now())
        let access = admission.access
        return .json(200, Greeting(message: "Hello, \(access.email)! You are signed in.", email: access.email,
                                   user_id: access.userID, calls_today: admission.usage.dayCount,
                                   remaining_today: admission.remainingToday))
    }
}

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension GreetingEndpoint.Greeting: FlatJSONEncodable {
    func write(to json: inout FlatJSONWriter) {
        json.field("calls_today", calls_today)
        json.field("email", email)
        json.field("message", message)
        json.field("remaining_today", remaining_today)
        json.field("user_id", user_id)
    }
}
