/// `GET /api/greeting`: the sample protected API. It shows what every protected call does: check
/// the bearer token for this API's GPT (S20), then answer for the signed-in user.
///
/// Which GPT(s) an API serves comes from `GPTAUTH_CLIENT_ID` (comma-separated client ids): a
/// `fastcgi_param` of the nginx location, or the process environment.
public struct GreetingEndpoint: Endpoint {
    public let service: Service
    public let log = Log(component: "greeting")
    public var errorStyle: ErrorStyle { .json }
    let validation: BearerTokenValidation
    let defaultAudience: String?

    public init(service: Service, defaultAudience: String?) {
        self.service = service
        self.validation = BearerTokenValidation(store: service.store)
        self.defaultAudience = defaultAudience
    }

    public struct Greeting: Codable, Sendable, Equatable {
        public var message: String
        public var email: String
        public var user_id: String
    }

    public func respond(to request: Request) throws -> Response {
        guard request.method == "GET" || request.method == "HEAD" else {
            throw HTTPError(status: 405, "Use GET.", headers: [("Allow", "GET")])
        }
        guard let configured = request.params["GPTAUTH_CLIENT_ID"] ?? defaultAudience, !configured.isEmpty else {
            log.error("no_audience", ["hint": "set fastcgi_param GPTAUTH_CLIENT_ID in the nginx location"])
            throw HTTPError.unavailable("This API is not yet linked to a GPT.")
        }
        let audience = Set(configured.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        let access: AccessTokenRecord
        do {
            access = try validation.validate(request, audience: audience, now: service.clock.now())
        } catch let challenge as BearerChallenge {
            return challenge.response
        }
        return .json(200, Greeting(message: "Hello, \(access.email)! You are signed in.", email: access.email,
                                   user_id: access.userID), noStore: true)
    }
}

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
