#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization

/// What every protected call goes through — the sample greeting API and the nginx `check` gate
/// alike: the bearer token for this API's GPT (S20, S21), the user not blocked, the plan's limits,
/// and the call counted, in that order.
public struct UsageGate: Sendable {
    public let store: AuthStore
    /// The pool's `GPTAUTH_CLIENT_ID`, used where the nginx location sets none.
    let defaultAudience: String?
    /// Where refusals worth keeping (blocked, limit reached) are audited.
    let log: Log
    /// The per-user upgrade links of a reached limit (nil: the plan book's upgrade URL only).
    let upgrades: UpgradeLinks?

    public init(store: AuthStore, defaultAudience: String?, log: Log, upgrades: UpgradeLinks? = nil) {
        self.store = store
        self.defaultAudience = defaultAudience
        self.log = log
        self.upgrades = upgrades
    }

    /// The whole protected-call check for one request: this location's audience, then `admit`
    /// (`counting`: false checks the token, its audience and the user without counting the call or
    /// applying the plan — an MCP server's protocol messages, whose tool calls are counted apart).
    /// A refusal is audited and thrown as `GateRefusal`.
    public func admit(_ request: Request, now: UnixTime, counting: Bool = true) throws -> Admission {
        let audience = try Audience.of(request, default: defaultAudience, log: log)
        do {
            return counting ? try admit(request, audience: audience, now: now) : try verify(request, audience: audience, now: now)
        } catch GateRefusal.unauthorized(var challenge) {
            // A protected resource's 401 says where its metadata is (RFC 9728 §5.1), so MCP clients find us.
            if let resource = Audience.resource(of: request) {
                challenge.resourceMetadata = ProtectedResource(url: resource).metadataURL
                let clients = try Audience.clientIDs(of: request, default: defaultAudience).compactMap { try store.client(id: $0) }
                challenge.scope = clients.lazy.compactMap { $0.resources?.first { $0.url == resource }?.scope }.first
            }
            throw GateRefusal.unauthorized(challenge)
        } catch let refusal as GateRefusal {
            refusal.audit(log, request)
            throw refusal
        }
    }

    /// An admitted call.
    public struct Admission: Sendable, Equatable {
        public var access: AccessTokenRecord
        /// The plan applied, if the GPT has plans.
        public var plan: String?
        /// Calls left today under the plan's daily limit (nil: no daily limit).
        public var remainingToday: Int?
        public var usage: UsageCounter
    }

    /// The bearer token of the request, or the 401 that its absence or form earns.
    func token(of request: Request) throws -> String {
        do {
            return try BearerTokenValidation.token(of: request)
        } catch {
            throw GateRefusal.unauthorized(error)
        }
    }

    /// Token, audience and user, as `admit` checks them, without counting or applying the plan.
    public func verify(_ request: Request, audience: Set<String>, now: UnixTime) throws -> Admission {
        switch try store.checkCall(accessDigest: Secrets.digest(try token(of: request)), audience: audience, now: now) {
        case .refused(let refusal):
            throw try self.refusal(refusal, now: now)
        case .passed(let access, let plan):
            // Nothing was counted: the counter is not read (an empty one stands in).
            return Admission(access: access, plan: plan?.name, remainingToday: nil,
                             usage: UsageCounter(clientID: access.clientID, userID: access.userID, email: access.email, now: now))
        }
    }

    /// One store step (`AuthStore.admitCall`): one round trip on PostgreSQL.
    public func admit(_ request: Request, audience: Set<String>, now: UnixTime) throws -> Admission {
        let token = try token(of: request)
        let admission = try store.admitCall(accessDigest: Secrets.digest(token), audience: audience, now: now)
        guard case .counted(let access, let plan, let usage, let remaining) = admission else { throw try refusal(admission, now: now) }
        return Admission(access: access, plan: plan, remainingToday: remaining, usage: usage)
    }

    /// What the caller reads of a call the store did not admit.
    func refusal(_ admission: CallAdmission, now: UnixTime) throws -> GateRefusal {
        switch admission {
        case .invalidToken:
            return .unauthorized(.unknown)
        case .otherAudience:
            return .unauthorized(.otherAudience)
        case .blocked(let access):
            return .blocked("Your access to this GPT has been turned off by its owner.", GateRefusal.Caller(access))
        case .overLimit(let access, let exceeded):
            let book = try store.planBook(clientID: access.clientID)
            // The links are a courtesy: a store hiccup reading them must not turn the answer into a 5xx.
            let links = (try? upgrades?.links(for: access, book: book, store: store, now: now)) ?? nil
            return .quotaExceeded(exceeded, message: UsageLimits.message(exceeded, book: book, now: now, upgrade: links?.upgrade,
                                                                         portal: links?.portal),
                                  retryAfter: max(1, exceeded.resetsAt - now),
                                  status: book?.plan(named: exceeded.plan)?.overLimitStatus ?? GateRefusal.defaultOverLimitStatus,
                                  caller: GateRefusal.Caller(access))
        case .counted:
            preconditionFailure("an admitted call is not a refusal")
        }
    }
}

/// A refused protected call, as the caller (and through it the GPT's user) reads it.
public enum GateRefusal: Error, Sendable, Equatable {
    /// 401 with `WWW-Authenticate: Bearer error="invalid_token"`.
    case unauthorized(BearerChallenge)
    /// 403: the GPT's owner blocked this user.
    case blocked(String, Caller)
    /// The plan's daily or monthly limit is reached: the plan's over-limit status (`Plan.overLimitStatus`;
    /// 402 by default, so ChatGPT does not back off the whole action as it does after 429s), with
    /// `Retry-After` until the limit resets (not on a 200).
    case quotaExceeded(QuotaExceeded, message: String, retryAfter: Int64, status: Int, caller: Caller)

    public static let defaultOverLimitStatus = 402

    /// Whose call was refused: the GPT and the user, for the audit trail (the console counts a
    /// GPT's refusals from it).
    public struct Caller: Sendable, Equatable {
        public var clientID: String
        public var email: String

        init(_ access: AccessTokenRecord) {
            clientID = access.clientID
            email = access.email
        }
    }

    public var status: Int {
        switch self {
        case .unauthorized: return 401
        case .blocked: return 403
        case .quotaExceeded(_, _, _, let status, _): return status
        }
    }

    public var body: ErrorBody {
        switch self {
        case .unauthorized(let challenge): return ErrorBody(error: "invalid_token", message: challenge.description)
        case .blocked(let message, _): return ErrorBody(error: "access_blocked", message: message)
        case .quotaExceeded(_, let message, _, let status, _):
            return ErrorBody(error: status == 402 ? "payment_required" : "quota_exceeded", message: message)
        }
    }

    /// Puts a reached limit or a blocked user's call in the audit trail (bad tokens are not audited:
    /// they are noise from anyone on the internet).
    public func audit(_ log: Log, _ request: Request) {
        switch self {
        case .unauthorized:
            return
        case .blocked(_, let caller):
            log.audit("blocked_call", ["client_id": caller.clientID, "email": caller.email, "address": request.remoteAddress])
        case .quotaExceeded(let exceeded, _, _, _, let caller):
            log.audit("rate_limited", ["limit": "plan \(exceeded.plan) per \(exceeded.period.rawValue)",
                                       "client_id": caller.clientID, "email": caller.email, "address": request.remoteAddress])
        }
    }

    /// The JSON response with its headers.
    public var response: Response {
        switch self {
        case .unauthorized(let challenge): return challenge.response
        case .blocked: return .json(403, body)
        case .quotaExceeded(_, _, let retryAfter, let status, _):
            return .json(status, body, headers: status == 200 ? [] : [("Retry-After", String(retryAfter))])
        }
    }
}

/// Which GPT(s) a protected location serves: `GPTAUTH_CLIENT_ID` (comma-separated client ids) from
/// the nginx location's `fastcgi_param`, else from the pool's environment.
public enum Audience {
    /// The audience keys (`ResourceIndicator.audienceKey`): each GPT's, with the location's
    /// protected resource (`GPTAUTH_RESOURCE`) if it names one, so a token for another resource,
    /// or for the GPT's plain APIs, is refused there (S40).
    public static func of(_ request: Request, default fallback: String?, log: Log) throws -> Set<String> {
        let configured = request.params["GPTAUTH_CLIENT_ID"] ?? fallback
        let resource = resource(of: request)
        // A pool serves the same location call after call: its last answer is kept (one entry).
        if let last = lastAnswer.withLock({ $0 }), last.configured == configured, last.resource == resource { return last.keys }
        let ids = clientIDs(of: request, default: fallback)
        guard !ids.isEmpty else {
            log.error("no_audience", ["hint": "set fastcgi_param GPTAUTH_CLIENT_ID in the nginx location"])
            throw HTTPError.unavailable("This API is not yet linked to a GPT.")
        }
        let keys = Set(ids.map { ResourceIndicator.audienceKey(clientID: $0, resource: resource) })
        lastAnswer.withLock { $0 = (configured, resource, keys) }
        return keys
    }

    private static let lastAnswer = Mutex<(configured: String?, resource: String?, keys: Set<String>)?>(nil)

    static func clientIDs(of request: Request, default fallback: String?) -> [String] {
        guard let configured = request.params["GPTAUTH_CLIENT_ID"] ?? fallback, !configured.isEmpty else { return [] }
        return configured.split(separator: ",").map { $0.trimmingSpaces() }
    }

    /// The protected resource a location serves: `fastcgi_param GPTAUTH_RESOURCE https://host/mcp;`.
    public static func resource(of request: Request) -> String? {
        request.params["GPTAUTH_RESOURCE"].flatMap { $0.isEmpty ? nil : $0 }
    }
}
