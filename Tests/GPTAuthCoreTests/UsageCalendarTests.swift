import Foundation
import Testing
@testable import GPTAuthCore

/// `UTCDay`: the UTC days and months that usage limits roll over on, checked against known dates
/// and against Foundation's Gregorian calendar.
@Suite("Usage calendar (UTC days)")
struct UsageCalendarTests {
    /// Foundation's proleptic Gregorian calendar in UTC: the reference (valid from 1582 on).
    private static let gregorian: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()

    private static func reference(_ time: UnixTime) -> (year: Int64, month: Int64, day: Int64) {
        let parts = gregorian.dateComponents([.year, .month, .day], from: Date(timeIntervalSince1970: TimeInterval(time)))
        return (Int64(parts.year!), Int64(parts.month!), Int64(parts.day!))
    }

    private static func referenceStart(_ year: Int64, _ month: Int64, _ day: Int64) -> UnixTime {
        let date = gregorian.date(from: DateComponents(timeZone: TimeZone(identifier: "UTC")!, year: Int(year),
                                                       month: Int(month), day: Int(day)))!
        return UnixTime(date.timeIntervalSince1970)
    }

    /// Seeded, so every run checks the same times: `count` uniform times in `range`.
    private static func randomTimes(_ count: Int, in range: ClosedRange<UnixTime>, seed: UInt64) -> [UnixTime] {
        let random = SeededRandom(seed: seed)
        let width = UInt64(range.upperBound - range.lowerBound) + 1
        return (0..<count).map { _ in
            let word = random.bytes(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
            return range.lowerBound + Int64(word % width)
        }
    }

    // MARK: Known dates

    @Test(arguments: [
        (0, "1970-01-01"),
        (86_399, "1970-01-01"),
        (86_400, "1970-01-02"),
        (951_782_400, "2000-02-29"),
        (951_868_799, "2000-02-29"),
        (951_868_800, "2000-03-01"),
        (1_709_164_800, "2024-02-29"),
        (1_709_251_199, "2024-02-29"),
        (1_709_251_200, "2024-03-01"),
        (1_767_225_599, "2025-12-31"),
        (1_767_225_600, "2026-01-01"),
        (1_795_996_790, "2026-11-29"),
        (4_102_444_799, "2099-12-31"),
        (4_107_456_000, "2100-02-28"),
        (4_107_542_400, "2100-03-01"),
        (-1, "1969-12-31"),
        (-86_400, "1969-12-31"),
        (-86_401, "1969-12-30"),
        (-2_208_988_800, "1900-01-01"),
        (253_402_300_799, "9999-12-31"),
    ] as [(UnixTime, String)])
    func knownDates(_ time: UnixTime, _ text: String) {
        let day = UTCDay(time)
        #expect(day.text == text)
        #expect(day.monthText == String(text.prefix(7)))
        let parts = text.split(separator: "-").map { Int64($0)! }
        #expect(day == UTCDay(UTCDay.start(year: parts[0], month: parts[1], day: parts[2])))
    }

    @Test func yearOneAndNegativeYearsUseTheProlepticCalendar() {
        let first = UTCDay(-62_135_596_800)
        #expect((first.year, first.month, first.day) == (1, 1, 1))
        #expect(UTCDay.start(year: 1, month: 1, day: 1) == -62_135_596_800)
        let dayBefore = UTCDay(-62_135_596_801)
        #expect((dayBefore.year, dayBefore.month, dayBefore.day) == (0, 12, 31))
        // Year 0 is a leap year (divisible by 400) in the proleptic Gregorian calendar.
        let leap = UTCDay(UTCDay.start(year: 0, month: 2, day: 29))
        #expect((leap.year, leap.month, leap.day) == (0, 2, 29))
    }

    @Test func textIsZeroPadded() {
        let day = UTCDay(UTCDay.start(year: 2026, month: 3, day: 7) + 45_296)
        #expect(day.text == "2026-03-07")
        #expect(day.monthText == "2026-03")
        #expect(UTCDay(UTCDay.start(year: 2026, month: 11, day: 29)).text == "2026-11-29")
    }

    @Test func everySecondOfADayBelongsToIt() {
        let start = UTCDay.start(year: 2024, month: 2, day: 29)
        for offset in stride(from: Int64(0), to: 86_400, by: 97) + [86_399] {
            #expect(UTCDay(start + offset).text == "2024-02-29")
        }
        #expect(UTCDay(start - 1).text == "2024-02-28")
        #expect(UTCDay(start + 86_400).text == "2024-03-01")
    }

    // MARK: start(year:month:day:)

    @Test(arguments: [(1970, 1, 1, 0), (2000, 2, 29, 951_782_400), (2024, 2, 29, 1_709_164_800),
                      (2026, 1, 1, 1_767_225_600), (2100, 3, 1, 4_107_542_400), (1900, 1, 1, -2_208_988_800),
                      (1969, 12, 31, -86_400)] as [(Int64, Int64, Int64, UnixTime)])
    func startOfKnownDays(_ year: Int64, _ month: Int64, _ day: Int64, _ time: UnixTime) {
        #expect(UTCDay.start(year: year, month: month, day: day) == time)
    }

    @Test(arguments: [1900, 1969, 1970, 2000, 2023, 2024, 2100] as [Int64])
    func startRoundTripsEveryDayOfTheYear(_ year: Int64) {
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        let lengths: [Int64] = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        var expected = UTCDay.start(year: year, month: 1, day: 1)
        for month in Int64(1)...12 {
            for day in 1...lengths[Int(month) - 1] {
                let start = UTCDay.start(year: year, month: month, day: day)
                #expect(start == expected, "\(year)-\(month)-\(day)")
                #expect(start % 86_400 == 0)
                let back = UTCDay(start)
                #expect((back.year, back.month, back.day) == (year, month, day))
                #expect(UTCDay(start + 86_399) == back)
                expected += 86_400
            }
        }
        #expect(expected == UTCDay.start(year: year + 1, month: 1, day: 1))
    }

    // MARK: Next day and next month

    @Test(arguments: [
        ("2024-02-28", "2024-02-29"), ("2024-02-29", "2024-03-01"), ("2023-02-28", "2023-03-01"),
        ("2000-02-28", "2000-02-29"), ("2100-02-28", "2100-03-01"), ("2026-12-31", "2027-01-01"),
        ("2026-11-29", "2026-11-30"), ("2026-11-30", "2026-12-01"), ("1969-12-31", "1970-01-01"),
    ])
    func nextDayStart(_ today: String, _ tomorrow: String) {
        let parts = today.split(separator: "-").map { Int64($0)! }
        let start = UTCDay.start(year: parts[0], month: parts[1], day: parts[2])
        for time in [start, start + 43_200, start + 86_399] {
            let next = UTCDay(time).nextDayStart
            #expect(next == start + 86_400)
            #expect(UTCDay(next).text == tomorrow)
        }
    }

    @Test(arguments: [
        ("2026-12-15", "2027-01-01"), ("2026-12-31", "2027-01-01"), ("2026-11-29", "2026-12-01"),
        ("2026-01-31", "2026-02-01"), ("2024-02-01", "2024-03-01"), ("2024-02-29", "2024-03-01"),
        ("2023-02-28", "2023-03-01"), ("2100-02-28", "2100-03-01"), ("2000-02-29", "2000-03-01"),
        ("1969-12-31", "1970-01-01"),
    ])
    func nextMonthStart(_ today: String, _ first: String) {
        let parts = today.split(separator: "-").map { Int64($0)! }
        let start = UTCDay.start(year: parts[0], month: parts[1], day: parts[2])
        for time in [start, start + 86_399] {
            let next = UTCDay(time).nextMonthStart
            #expect(next % 86_400 == 0)
            #expect(UTCDay(next).text == first)
            #expect(UTCDay(next - 1).monthText == String(today.prefix(7)))
        }
    }

    @Test func februaryLengthDecidesTheMonthLength() {
        for (year, days) in [(2023, 28), (2024, 29), (2000, 29), (1900, 28), (2100, 28)] as [(Int64, Int64)] {
            let first = UTCDay.start(year: year, month: 2, day: 1)
            #expect(UTCDay(first).nextMonthStart - first == days * 86_400, "\(year)")
        }
    }

    @Test func ordering() {
        let times: [UnixTime] = [-86_401, -1, 0, 951_782_400, 1_709_164_800, 1_767_225_599, 1_767_225_600, 4_102_444_799]
        for (a, b) in zip(times, times.dropFirst()) {
            #expect(UTCDay(a) < UTCDay(b))
            #expect(!(UTCDay(b) < UTCDay(a)))
        }
        #expect(!(UTCDay(0) < UTCDay(86_399)))
        #expect(UTCDay(0) == UTCDay(86_399))
        // Month before day: 2026-01-31 < 2026-02-01.
        #expect(UTCDay(UTCDay.start(year: 2026, month: 1, day: 31)) < UTCDay(UTCDay.start(year: 2026, month: 2, day: 1)))
    }

    // MARK: Against Foundation

    @Test func agreesWithFoundationOnSeededRandomTimesFrom1970To2100() {
        for time in Self.randomTimes(3_000, in: 0...4_102_444_799, seed: 2026) {
            let day = UTCDay(time)
            let reference = Self.reference(time)
            #expect((day.year, day.month, day.day) == reference, "time \(time)")
            #expect(UTCDay.start(year: day.year, month: day.month, day: day.day)
                        == Self.referenceStart(reference.year, reference.month, reference.day), "time \(time)")
            let nextDay = Self.gregorian.date(byAdding: .day, value: 1,
                                              to: Date(timeIntervalSince1970: TimeInterval(time - time % 86_400)))!
            #expect(day.nextDayStart == UnixTime(nextDay.timeIntervalSince1970), "time \(time)")
            let (nextYear, nextMonth) = reference.month == 12 ? (reference.year + 1, Int64(1)) : (reference.year, reference.month + 1)
            #expect(day.nextMonthStart == Self.referenceStart(nextYear, nextMonth, 1), "time \(time)")
            #expect(day.nextDayStart > time && day.nextDayStart <= time + 86_400)
        }
    }

    @Test func agreesWithFoundationBefore1970() {
        for time in Self.randomTimes(1_000, in: -2_208_988_800 ... -1, seed: 1969) {
            let day = UTCDay(time)
            #expect((day.year, day.month, day.day) == Self.reference(time), "time \(time)")
            #expect(UTCDay.start(year: day.year, month: day.month, day: day.day) <= time)
            #expect(day.nextDayStart > time && day.nextDayStart <= time + 86_400, "time \(time)")
        }
    }

    @Test func agreesWithFoundationOnEveryMidnightAndTheSecondBefore() {
        // Every day boundary from 1999 to 2030: the second before midnight is still the old day.
        var time = UTCDay.start(year: 1999, month: 1, day: 1)
        let end = UTCDay.start(year: 2031, month: 1, day: 1)
        while time < end {
            for probe in [time - 1, time] {
                let day = UTCDay(probe)
                #expect((day.year, day.month, day.day) == Self.reference(probe), "time \(probe)")
            }
            time += 86_400
        }
    }
}
