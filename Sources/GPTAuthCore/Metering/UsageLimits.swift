/// The per-user limit rule: a call is admitted while today's and this month's counts are below the
/// plan's limits (UTC days and months). Unlimited where the plan sets no number.
public enum UsageLimits {
    public static func exceeded(_ counter: UsageCounter, plan: Plan, now: UnixTime) -> QuotaExceeded? {
        exceeded(dayCount: counter.dayCount, monthCount: counter.monthCount, plan: plan, now: now)
    }

    /// The limit that `dayCount` calls today and `monthCount` this month have reached, if any.
    public static func exceeded(dayCount: Int, monthCount: Int, plan: Plan, now: UnixTime) -> QuotaExceeded? {
        let today = UTCDay(now)
        if let daily = plan.daily, dayCount >= daily {
            return QuotaExceeded(plan: plan.name, limit: daily, period: .day, resetsAt: today.nextDayStart)
        }
        if let monthly = plan.monthly, monthCount >= monthly {
            return QuotaExceeded(plan: plan.name, limit: monthly, period: .month, resetsAt: today.nextMonthStart)
        }
        return nil
    }

    static let monthNames = ["January", "February", "March", "April", "May", "June", "July", "August",
                             "September", "October", "November", "December"]

    /// The sentence the GPT reads to its user: the limit, when it resets, and where to upgrade —
    /// `upgrade` (the user's own upgrade link) when plans can be bought, else the book's upgrade URL —
    /// and, for a paying user, where to manage the payment (`portal`).
    public static func message(_ exceeded: QuotaExceeded, book: PlanBook?, now: UnixTime, upgrade: String? = nil,
                               portal: String? = nil) -> String {
        let wait = max(0, exceeded.resetsAt - now)
        let hours = (wait + 3599) / 3600
        let reset: String
        switch exceeded.period {
        case .day:
            reset = "at 00:00 UTC" + (hours <= 1 ? " (within the hour)" : " (in \(hours) hours)")
        case .month:
            let day = UTCDay(exceeded.resetsAt)
            reset = "on \(day.day) \(monthNames[Int(day.month) - 1]) \(day.year) (UTC)"
        }
        let period = exceeded.period == .day ? "today" : "this month"
        let upgrade = upgrade ?? book?.upgradeURL ?? ""
        if let template = book?.messageTemplate, !template.isEmpty {
            return template
                .replacing("{limit}", with: String(exceeded.limit))
                .replacing("{period}", with: period)
                .replacing("{plan}", with: exceeded.plan)
                .replacing("{reset}", with: reset)
                .replacing("{upgrade}", with: upgrade)
        }
        var sentence = "You have used all \(exceeded.limit) requests of the \(exceeded.plan) plan \(period). "
            + "Your limit resets \(reset)."
        if !upgrade.isEmpty { sentence += " To keep going now, upgrade at \(upgrade)." }
        if let portal { sentence += " To manage your subscription: \(portal)." }
        return sentence
    }
}

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
