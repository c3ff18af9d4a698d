/// A GPT's plans: named call limits per user, the default for new users, and how to tell a user
/// who reached a limit where to upgrade.
public struct PlanBook: Codable, Sendable, Equatable {
    public var plans: [Plan]
    /// The plan of users who have none set; nil means unlimited.
    public var defaultPlan: String?
    /// Where a user who reached a limit can upgrade (shown in the 429 message).
    public var upgradeURL: String?
    /// The 429 message. Placeholders: {limit} {period} {plan} {reset} {upgrade}.
    public var messageTemplate: String?

    public init(plans: [Plan] = [], defaultPlan: String? = nil, upgradeURL: String? = nil, messageTemplate: String? = nil) {
        self.plans = plans
        self.defaultPlan = defaultPlan
        self.upgradeURL = upgradeURL
        self.messageTemplate = messageTemplate
    }

    public func plan(named name: String?) -> Plan? {
        guard let name else { return nil }
        return plans.first { $0.name == name }
    }
}

/// Call limits of one plan; nil is unlimited.
public struct Plan: Codable, Sendable, Equatable {
    public var name: String
    public var daily: Int?
    public var monthly: Int?
    /// A Stripe Payment Link that buys this plan (`https://buy.stripe.com/…`).
    public var paymentLink: String? = nil
    /// The Stripe price (`price_…`) of this plan, so subscription events can name it.
    public var stripePrice: String? = nil
    /// The status of the answer once a limit is reached: 402 (the default), 429 or 200.
    public var overLimitStatus: Int? = nil

    public init(name: String, daily: Int? = nil, monthly: Int? = nil, paymentLink: String? = nil,
                stripePrice: String? = nil, overLimitStatus: Int? = nil) {
        self.name = name
        self.daily = daily
        self.monthly = monthly
        self.paymentLink = paymentLink
        self.stripePrice = stripePrice
        self.overLimitStatus = overLimitStatus
    }

    /// The over-limit answers a plan may choose: 402 Payment Required (ChatGPT does not back off a
    /// whole action for it, as it does after repeated 429s), 429, or 200 with the message as the answer.
    public static let overLimitStatuses = [402, 429, 200]
}

/// One user's calls at one GPT: today, this month, all time, and the recent days.
public struct UsageCounter: Codable, Sendable, Equatable {
    public var clientID: String
    public var userID: String
    public var email: String
    /// The UTC day and month the two counters below belong to.
    public var day: String
    public var dayCount: Int
    public var month: String
    public var monthCount: Int
    public var total: Int
    /// Calls per UTC day for the last `historyDays` days.
    public var history: [String: Int]
    public var lastCall: UnixTime

    public static let historyDays = 400

    public init(clientID: String, userID: String, email: String, now: UnixTime) {
        let today = UTCDay(now)
        self.clientID = clientID
        self.userID = userID
        self.email = email
        day = today.text
        dayCount = 0
        month = today.monthText
        monthCount = 0
        total = 0
        history = [:]
        lastCall = now
    }

    /// The counters as they read at `now`: a new day or month starts from zero. Only forward: a
    /// call stamped a moment before midnight by a slower process does not reset the new day.
    public func rolled(to now: UnixTime) -> UsageCounter {
        var copy = self
        let today = UTCDay(now)
        // `YYYY-MM-DD` and `YYYY-MM` compare in time order as strings.
        if today.text > copy.day { copy.day = today.text; copy.dayCount = 0 }
        if today.monthText > copy.month { copy.month = today.monthText; copy.monthCount = 0 }
        return copy
    }

    /// Drops history older than `historyDays` before `now`.
    mutating func pruneHistory(now: UnixTime) {
        let cutoff = UTCDay(now - Int64(UsageCounter.historyDays) * 86_400).text
        history = history.filter { $0.key > cutoff }
    }
}

/// The decision for one protected call.
public enum CallDecision: Sendable, Equatable {
    /// Counted; `remainingToday` is nil when there is no daily limit.
    case counted(UsageCounter, remainingToday: Int?)
    case overLimit(QuotaExceeded)
}

/// A limit reached: which, and when it resets.
public struct QuotaExceeded: Sendable, Equatable {
    public enum Period: String, Sendable { case day, month }
    public var plan: String
    public var limit: Int
    public var period: Period
    public var resetsAt: UnixTime
}
