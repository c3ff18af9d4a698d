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
    /// File store only: the counter's slot in `usage/counters.bin` (`SharedCounters`), where its
    /// live counts are. Never set on a counter the store hands out (`merging` has applied it).
    var slot: Int? = nil

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
        applying(CallCounts(self).rolled(to: now))
    }

    /// The counter with these day and month counts.
    func applying(_ counts: CallCounts) -> UsageCounter {
        var copy = self
        copy.day = counts.dayText
        copy.dayCount = counts.dayCount
        copy.month = counts.monthText
        copy.monthCount = counts.monthCount
        return copy
    }

    /// Drops history older than `historyDays` before `now`.
    mutating func pruneHistory(now: UnixTime) {
        let cutoff = UTCDay(now - Int64(UsageCounter.historyDays) * 86_400).text
        history = history.filter { $0.key > cutoff }
    }

    /// The counter with the live counts of its day and month (the file store's shared counters):
    /// that day's history entry is `counts.dayCount`, and the total moves by the difference. The
    /// same step folds a finished day into the stored record, and reads a record with its live day:
    /// applying it twice changes nothing.
    func merging(_ counts: CallCounts, lastCall: UnixTime) -> UsageCounter {
        guard counts != .zero else { return self }
        var merged = applying(counts)
        let day = counts.dayText
        merged.total += counts.dayCount - (history[day] ?? 0)
        merged.lastCall = max(self.lastCall, lastCall)
        merged.pruneHistory(now: merged.lastCall)
        if counts.dayCount > 0 { merged.history[day] = counts.dayCount } else { merged.history[day] = nil }
        return merged
    }
}

/// What a call changes and a limit is checked against, as numbers: the UTC day (days since
/// 1970-01-01) and month (year × 12 + month − 1) the counts belong to, and the counts. The file store
/// keeps these 16 bytes per user in shared memory and changes them with one compare-and-swap
/// (`SharedCounters`); `CallMetering.admit` is the rule for every engine.
public struct CallCounts: Sendable, Equatable {
    public var day: Int64
    public var dayCount: Int
    public var month: Int64
    public var monthCount: Int

    /// A counter that never counted: day 0, which every real day rolls over.
    public static let zero = CallCounts(day: 0, dayCount: 0, month: 0, monthCount: 0)

    public init(day: Int64, dayCount: Int, month: Int64, monthCount: Int) {
        self.day = day
        self.dayCount = dayCount
        self.month = month
        self.monthCount = monthCount
    }

    /// A stored counter's counts (a day or month that does not parse reads as never counted).
    init(_ counter: UsageCounter) {
        guard let day = UTCDay.parse(counter.day), let month = UTCDay.parse(counter.month + "-01") else {
            self = .zero
            return
        }
        self.init(day: Self.dayNumber(UTCDay.start(year: day.year, month: day.month, day: day.day)), dayCount: counter.dayCount,
                  month: Self.monthNumber(month), monthCount: counter.monthCount)
    }

    static func dayNumber(_ time: UnixTime) -> Int64 { (time >= 0 ? time : time - 86_399) / 86_400 }
    static func monthNumber(_ day: UTCDay) -> Int64 { day.year * 12 + day.month - 1 }

    var dayText: String { UTCDay(day * 86_400).text }
    var monthText: String {
        let year = month / 12, number = month % 12 + 1
        return "\(year)-\(number < 10 ? "0" : "")\(number)"
    }

    /// The counts as they read at `now`: a new day or month starts from zero. Only forward: a call
    /// stamped a moment before midnight by a slower process does not reset the new day.
    public func rolled(to now: UnixTime) -> CallCounts {
        var copy = self
        let today = Self.dayNumber(now)
        if today > copy.day { copy.day = today; copy.dayCount = 0 }
        let thisMonth = Self.monthNumber(UTCDay(now))
        if thisMonth > copy.month { copy.month = thisMonth; copy.monthCount = 0 }
        return copy
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
