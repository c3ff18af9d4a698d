/// Admitting a protected call against the user's plan and counting it: the rule every store
/// applies under the counter's lock or in its compare-and-swap (the PostgreSQL engine states the same rule in SQL, in the one
/// statement of a protected call, and passes the same decision-table tests).
public enum CallMetering {
    /// The plan that applies to `user`: theirs if the GPT still has it, else the GPT's default;
    /// nil (no limits) when the GPT has no plans.
    public static func plan(for user: User?, in book: PlanBook?) -> Plan? {
        book.flatMap { $0.plan(named: user?.plan) ?? $0.plan(named: $0.defaultPlan) }
    }

    /// The rule itself: one call at `now` against `counts`, rolled to `now` (a new day or month
    /// starts from zero, never back); admitted while both counts are below the plan's limits, and
    /// then added to both. An engine stores the counts it returns (a refusal writes nothing).
    public static func admit(_ counts: CallCounts, plan: Plan?, now: UnixTime) -> CountStep {
        var counts = counts.rolled(to: now)
        if let plan, let exceeded = UsageLimits.exceeded(dayCount: counts.dayCount, monthCount: counts.monthCount, plan: plan, now: now) {
            return .overLimit(exceeded)
        }
        counts.dayCount += 1
        counts.monthCount += 1
        return .counted(counts)
    }

    public enum CountStep: Sendable, Equatable {
        case counted(CallCounts)
        case overLimit(QuotaExceeded)
    }

    /// One call at `now` against the stored counter (nil: the user's first): `admit` on its counts,
    /// and the counter to write back with its total and history (nil: a refusal writes nothing).
    public static func count(_ stored: UsageCounter?, clientID: String, userID: String, email: String,
                             plan: Plan?, now: UnixTime) -> (write: UsageCounter?, decision: CallDecision) {
        var counter = stored ?? UsageCounter(clientID: clientID, userID: userID, email: email, now: now)
        let counts: CallCounts
        switch admit(CallCounts(counter), plan: plan, now: now) {
        case .overLimit(let exceeded): return (nil, .overLimit(exceeded))
        case .counted(let admitted): counts = admitted
        }
        counter = counter.applying(counts)
        counter.total += 1
        counter.history[counter.day, default: 0] += 1
        counter.pruneHistory(now: now)
        counter.email = email
        counter.lastCall = now
        return (counter, .counted(counter, remainingToday: plan?.daily.map { max(0, $0 - counter.dayCount) }))
    }
}
