/// Admitting a protected call against the user's plan and counting it: the rule every store
/// applies under the counter's lock (the PostgreSQL engine states the same rule in SQL, in the one
/// statement of a protected call, and passes the same decision-table tests).
public enum CallMetering {
    /// The plan that applies to `user`: theirs if the GPT still has it, else the GPT's default;
    /// nil (no limits) when the GPT has no plans.
    public static func plan(for user: User?, in book: PlanBook?) -> Plan? {
        book.flatMap { $0.plan(named: user?.plan) ?? $0.plan(named: $0.defaultPlan) }
    }

    /// One call at `now` against the stored counter (nil: the user's first): the counter to write
    /// back (nil: a refusal writes nothing) and the decision. A call is counted only if admitted.
    public static func count(_ stored: UsageCounter?, clientID: String, userID: String, email: String,
                             plan: Plan?, now: UnixTime) -> (write: UsageCounter?, decision: CallDecision) {
        var counter = (stored ?? UsageCounter(clientID: clientID, userID: userID, email: email, now: now)).rolled(to: now)
        if let plan, let exceeded = UsageLimits.exceeded(counter, plan: plan, now: now) { return (nil, .overLimit(exceeded)) }
        counter.dayCount += 1
        counter.monthCount += 1
        counter.total += 1
        counter.history[counter.day, default: 0] += 1
        counter.pruneHistory(now: now)
        counter.email = email
        counter.lastCall = now
        return (counter, .counted(counter, remainingToday: plan?.daily.map { max(0, $0 - counter.dayCount) }))
    }
}
