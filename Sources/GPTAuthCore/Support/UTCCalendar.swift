/// UTC days and months from Unix time, without a calendar library (Howard Hinnant's civil-from-days).
/// Usage limits roll over at 00:00 UTC and on the first of the month.
public struct UTCDay: Sendable, Equatable, Comparable {
    public let year: Int64
    public let month: Int64
    public let day: Int64

    public init(_ time: UnixTime) {
        let days = (time >= 0 ? time : time - 86_399) / 86_400
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        day = doy - (153 * mp + 2) / 5 + 1
        month = mp < 10 ? mp + 3 : mp - 9
        year = yoe + era * 400 + (month <= 2 ? 1 : 0)
    }

    /// Unix time of 00:00 UTC on year-month-day.
    public static func start(year: Int64, month: Int64, day: Int64) -> UnixTime {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = month > 2 ? month - 3 : month + 9
        let doy = (153 * m + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return (era * 146_097 + doe - 719_468) * 86_400
    }

    /// The day named `YYYY-MM-DD`, or nil.
    public static func parse(_ text: String) -> UTCDay? {
        // Four-digit years only: a longer one would overflow the day arithmetic.
        guard text.utf8.count == 10 else { return nil }
        let parts = text.split(separator: "-")
        guard parts.count == 3, let y = Int64(parts[0]), let m = Int64(parts[1]), let d = Int64(parts[2]),
              (1...12).contains(m), (1...31).contains(d) else { return nil }
        let day = UTCDay(start(year: y, month: m, day: d))
        return day.text == text ? day : nil
    }

    /// `2026-11-29`
    public var text: String { "\(year)-\(Self.two(month))-\(Self.two(day))" }
    /// `2026-11`
    public var monthText: String { "\(year)-\(Self.two(month))" }

    /// 00:00 UTC of the next day.
    public var nextDayStart: UnixTime { UTCDay.start(year: year, month: month, day: day) + 86_400 }
    /// 00:00 UTC on the first of next month.
    public var nextMonthStart: UnixTime {
        month == 12 ? UTCDay.start(year: year + 1, month: 1, day: 1) : UTCDay.start(year: year, month: month + 1, day: 1)
    }

    /// `2026-11-29T14:05:09Z` (ISO 8601, what the CSV export and the CLI print).
    public static func iso8601(_ time: UnixTime) -> String {
        let seconds = ((time % 86_400) + 86_400) % 86_400
        return "\(UTCDay(time).text)T\(two(seconds / 3600)):\(two(seconds % 3600 / 60)):\(two(seconds % 60))Z"
    }

    /// `2026-11-29 14:05 UTC` (the console's tables).
    public static func minutes(_ time: UnixTime) -> String {
        let seconds = ((time % 86_400) + 86_400) % 86_400
        return "\(UTCDay(time).text) \(two(seconds / 3600)):\(two(seconds % 3600 / 60)) UTC"
    }

    public static func < (a: UTCDay, b: UTCDay) -> Bool { (a.year, a.month, a.day) < (b.year, b.month, b.day) }

    private static func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
}
