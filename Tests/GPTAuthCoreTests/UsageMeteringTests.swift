import Foundation
import Testing
@testable import GPTAuthCore

/// Usage metering and plans: every protected call (the greeting API and the nginx `check` gate)
/// is checked against the user's plan and counted per UTC day and month.
@Suite("Usage metering")
struct UsageMeteringTests {
    /// 2026-11-29T23:59:50Z: ten seconds before a UTC midnight.
    static let beforeMidnight: UnixTime = 1_795_996_790
    /// 2026-11-30T00:00:00Z
    static let midnight: UnixTime = 1_795_996_800
    /// 2026-11-29T12:00:00Z
    static let noon: UnixTime = 1_795_953_600
    /// 2026-11-30T23:59:00Z: a minute before the first of December.
    static let beforeDecember: UnixTime = 1_796_083_140
    /// 2026-12-01T00:00:00Z
    static let december: UnixTime = 1_796_083_200
    static let upgradeURL = "https://example.com/upgrade"

    // MARK: Helpers

    /// A fresh installation whose clock reads `time`.
    private func installation(at time: UnixTime) throws -> TestInstallation {
        let app = try TestInstallation()
        app.clock.advance(by: time - app.clock.now())
        try #require(app.clock.now() == time)
        return app
    }

    private func setClock(_ app: TestInstallation, to time: UnixTime) {
        app.clock.advance(by: time - app.clock.now())
    }

    private func greet(_ app: TestInstallation, _ token: String) -> Response {
        app.greeting(token, audience: app.chatGPT.id)
    }

    private func greeting(_ response: Response, sourceLocation: SourceLocation = #_sourceLocation) throws -> GreetingEndpoint.Greeting {
        try #require(response.status == 200, "\(response.status): \(response.text)", sourceLocation: sourceLocation)
        return try decodeJSON(GreetingEndpoint.Greeting.self, response)
    }

    private func errorBody(_ response: Response, status: Int, sourceLocation: SourceLocation = #_sourceLocation) throws -> ErrorBody {
        try #require(response.status == status, "\(response.status): \(response.text)", sourceLocation: sourceLocation)
        #expect(response.header("Content-Type") == "application/json; charset=utf-8", sourceLocation: sourceLocation)
        return try decodeJSON(ErrorBody.self, response)
    }

    private func adaID(_ app: TestInstallation, email: String = "ada@example.com") -> String {
        userID(clientID: app.chatGPT.id, email: email)
    }

    private func usage(_ app: TestInstallation, email: String = "ada@example.com") throws -> UsageCounter? {
        try app.store.usage(clientID: app.chatGPT.id, userID: adaID(app, email: email))
    }

    private func savePlans(_ app: TestInstallation, _ plans: [Plan], default defaultPlan: String? = nil,
                           upgradeURL: String? = UsageMeteringTests.upgradeURL, template: String? = nil) throws {
        try app.store.savePlanBook(PlanBook(plans: plans, defaultPlan: defaultPlan, upgradeURL: upgradeURL,
                                            messageTemplate: template), clientID: app.chatGPT.id)
    }

    @discardableResult
    private func setUser(_ app: TestInstallation, email: String = "ada@example.com", _ change: (inout User) -> Void) throws -> Bool {
        try app.store.updateUser(clientID: app.chatGPT.id, email: email) { change(&$0) } != nil
    }

    /// A new pair from the refresh token (access tokens live an hour; some tests span days).
    private func refreshed(_ app: TestInstallation, _ pair: TokenResponse) throws -> TokenResponse {
        let answer = app.refresh(pair.refresh_token, client: app.chatGPT)
        try #require(answer.status == 200, "refresh answered \(answer.status): \(answer.text)")
        return try decodeJSON(TokenResponse.self, answer)
    }

    private func check(_ app: TestInstallation, _ token: String?, audience: String? = nil) -> Response {
        var headers: [String: String] = [:]
        if let token { headers["Authorization"] = "Bearer " + token }
        let request = makeRequest(path: "/_gptauth/check", headers: headers)
        let response = CheckEndpoint(service: app.service, defaultAudience: audience ?? app.chatGPT.id).response(to: request)
        // nginx's auth_request passes on only 2xx, 401 and 403 (anything else becomes a 500).
        #expect([204, 401, 403].contains(response.status), "check answered \(response.status)")
        return response
    }

    private func checkError(_ response: Response, sourceLocation: SourceLocation = #_sourceLocation) throws -> ErrorBody {
        let header = try #require(response.header("X-GPTAuth-Error"), sourceLocation: sourceLocation)
        return try JSONDecoder().decode(ErrorBody.self, from: Data(header.utf8))
    }

    private func record(_ app: TestInstallation, plan: Plan?, at now: UnixTime, email: String = "ada@example.com") throws -> CallDecision {
        try app.store.recordCall(clientID: app.chatGPT.id, userID: adaID(app, email: email), email: email, plan: plan, now: now)
    }

    private func counted(_ decision: CallDecision, sourceLocation: SourceLocation = #_sourceLocation) throws -> UsageCounter {
        guard case .counted(let counter, _) = decision else {
            return try #require(nil as UsageCounter?, "expected a counted call, got \(decision)", sourceLocation: sourceLocation)
        }
        return counter
    }

    private func overLimit(_ decision: CallDecision, sourceLocation: SourceLocation = #_sourceLocation) throws -> QuotaExceeded {
        guard case .overLimit(let exceeded) = decision else {
            return try #require(nil as QuotaExceeded?, "expected an over-limit call, got \(decision)", sourceLocation: sourceLocation)
        }
        return exceeded
    }

    // MARK: Counting

    @Test func eachGreetingIsCountedPerDayMonthAndTotal() throws {
        let app = try installation(at: Self.noon)
        defer { app.remove() }
        var pair = try obtainTokens(app, client: app.chatGPT)
        #expect(try usage(app) == nil)
        for call in 1...5 {
            let body = try greeting(greet(app, pair.access_token))
            #expect(body.calls_today == call)
            #expect(body.remaining_today == nil)
            app.clock.advance(by: 60)
        }
        var counter = try #require(try usage(app))
        #expect(counter.clientID == app.chatGPT.id)
        #expect(counter.userID == adaID(app))
        #expect(counter.email == "ada@example.com")
        #expect(counter.day == "2026-11-29")
        #expect(counter.dayCount == 5)
        #expect(counter.month == "2026-11")
        #expect(counter.monthCount == 5)
        #expect(counter.total == 5)
        #expect(counter.history == ["2026-11-29": 5])
        #expect(counter.lastCall == Self.noon + 4 * 60)

        // The next UTC day: today starts from zero, the month and the total go on.
        setClock(app, to: Self.midnight + 3_600)
        pair = try refreshed(app, pair)
        #expect(try greeting(greet(app, pair.access_token)).calls_today == 1)
        #expect(try greeting(greet(app, pair.access_token)).calls_today == 2)
        counter = try #require(try usage(app))
        #expect((counter.day, counter.dayCount) == ("2026-11-30", 2))
        #expect((counter.month, counter.monthCount) == ("2026-11", 7))
        #expect(counter.total == 7)
        #expect(counter.history == ["2026-11-29": 5, "2026-11-30": 2])

        // The next month: both counters start again.
        setClock(app, to: Self.december + 60)
        pair = try refreshed(app, pair)
        #expect(try greeting(greet(app, pair.access_token)).calls_today == 1)
        counter = try #require(try usage(app))
        #expect((counter.day, counter.dayCount) == ("2026-12-01", 1))
        #expect((counter.month, counter.monthCount) == ("2026-12", 1))
        #expect(counter.total == 8)
        #expect(counter.history == ["2026-11-29": 5, "2026-11-30": 2, "2026-12-01": 1])
    }

    @Test func usersAndGPTsAreCountedSeparately() throws {
        let app = try installation(at: Self.noon)
        defer { app.remove() }
        let ada = try obtainTokens(app, client: app.chatGPT, email: "ada@example.com")
        let grace = try obtainTokens(app, client: app.chatGPT, email: "grace@example.com")
        let adaElsewhere = try obtainTokens(app, client: app.exact, email: "ada@example.com")
        for _ in 0..<3 { _ = try greeting(greet(app, ada.access_token)) }
        #expect(try greeting(greet(app, grace.access_token)).calls_today == 1)
        #expect(try greeting(app.greeting(adaElsewhere.access_token, audience: app.exact.id)).calls_today == 1)
        #expect(try greeting(greet(app, ada.access_token)).calls_today == 4)
        #expect(try usage(app)?.total == 4)
        #expect(try usage(app, email: "grace@example.com")?.total == 1)
        let elsewhere = try app.store.usage(clientID: app.exact.id, userID: userID(clientID: app.exact.id, email: "ada@example.com"))
        #expect(elsewhere?.total == 1)
    }

    @Test func refusedTokensAreNotCounted() throws {
        let app = try installation(at: Self.noon)
        defer { app.remove() }
        let pair = try obtainTokens(app, client: app.chatGPT)
        #expect(app.greeting(pair.access_token, audience: app.exact.id).status == 401)
        #expect(greet(app, "gpa_at_unknown").status == 401)
        #expect(try usage(app) == nil)
        #expect(try greeting(greet(app, pair.access_token)).calls_today == 1)
    }

    // MARK: Daily limit

    @Test func limitsRollOverAtUTCMidnight() throws {
        let app = try installation(at: Self.beforeMidnight)
        defer { app.remove() }
        try savePlans(app, [Plan(name: "free", daily: 3)], default: "free")
        let pair = try obtainTokens(app, client: app.chatGPT)
        for call in 1...3 {
            let body = try greeting(greet(app, pair.access_token))
            #expect(body.calls_today == call)
            #expect(body.remaining_today == 3 - call)
        }

        let refused = greet(app, pair.access_token)
        let error = try errorBody(refused, status: 402)
        #expect(error.error == "payment_required")
        #expect(error.message.contains("all 3 requests"))
        #expect(error.message.contains("free plan"))
        #expect(error.message.contains("today"))
        #expect(error.message.contains("resets at 00:00 UTC"))
        #expect(error.message.contains(Self.upgradeURL))
        #expect(error.message == "You have used all 3 requests of the free plan today. Your limit resets at 00:00 UTC "
                    + "(within the hour). To keep going now, upgrade at \(Self.upgradeURL).")
        #expect(refused.header("Retry-After") == String(Self.midnight - Self.beforeMidnight))
        #expect(refused.header("Retry-After") == "10")

        // Refused calls are not counted, and Retry-After counts down to midnight.
        var counter = try #require(try usage(app))
        #expect((counter.dayCount, counter.monthCount, counter.total) == (3, 3, 3))
        app.clock.advance(by: 9)  // 23:59:59
        let last = greet(app, pair.access_token)
        #expect(last.status == 402)
        #expect(last.header("Retry-After") == "1")
        counter = try #require(try usage(app))
        #expect(counter.total == 3)

        // 00:00:00 UTC: a new day.
        app.clock.advance(by: 1)
        #expect(app.clock.now() == Self.midnight)
        let body = try greeting(greet(app, pair.access_token))
        #expect(body.calls_today == 1)
        #expect(body.remaining_today == 2)
        counter = try #require(try usage(app))
        #expect((counter.day, counter.dayCount) == ("2026-11-30", 1))
        #expect((counter.month, counter.monthCount) == ("2026-11", 4))
        #expect(counter.total == 4)
        #expect(counter.history == ["2026-11-29": 3, "2026-11-30": 1])
    }

    @Test func retryAfterIsTheSecondsUntilTheNextUTCMidnight() throws {
        let app = try installation(at: Self.noon)
        defer { app.remove() }
        try savePlans(app, [Plan(name: "free", daily: 1)], default: "free")
        let pair = try obtainTokens(app, client: app.chatGPT)
        _ = try greeting(greet(app, pair.access_token))
        let refused = greet(app, pair.access_token)
        #expect(refused.status == 402)
        #expect(refused.header("Retry-After") == "43200")
        #expect(try errorBody(refused, status: 402).message.contains("(in 12 hours)"))
    }

    // MARK: Monthly limit

    @Test func monthlyLimitRollsOverOnTheFirstOfTheMonth() throws {
        let app = try installation(at: Self.beforeDecember)
        defer { app.remove() }
        try savePlans(app, [Plan(name: "starter", monthly: 2)], default: "starter")
        let pair = try obtainTokens(app, client: app.chatGPT)
        for call in 1...2 {
            let body = try greeting(greet(app, pair.access_token))
            #expect(body.calls_today == call)
            #expect(body.remaining_today == nil)  // no daily limit
        }
        let refused = greet(app, pair.access_token)
        let error = try errorBody(refused, status: 402)
        #expect(error.error == "payment_required")
        #expect(error.message.contains("all 2 requests"))
        #expect(error.message.contains("this month"))
        #expect(error.message.contains("resets on 1 December 2026 (UTC)"))
        #expect(error.message.contains(Self.upgradeURL))
        #expect(refused.header("Retry-After") == "60")
        #expect(try usage(app)?.monthCount == 2)

        setClock(app, to: Self.december)
        let body = try greeting(greet(app, pair.access_token))
        #expect(body.calls_today == 1)
        let counter = try #require(try usage(app))
        #expect((counter.month, counter.monthCount, counter.total) == ("2026-12", 1, 3))
    }

    @Test func aNewDayDoesNotResetTheMonthlyLimit() throws {
        let app = try installation(at: Self.noon)  // 2026-11-29
        defer { app.remove() }
        try savePlans(app, [Plan(name: "starter", monthly: 2)], default: "starter")
        var pair = try obtainTokens(app, client: app.chatGPT)
        _ = try greeting(greet(app, pair.access_token))
        _ = try greeting(greet(app, pair.access_token))
        #expect(greet(app, pair.access_token).status == 402)

        setClock(app, to: Self.midnight + 7_200)  // 2026-11-30T02:00Z
        pair = try refreshed(app, pair)
        let refused = greet(app, pair.access_token)
        #expect(try errorBody(refused, status: 402).message.contains("1 December 2026"))
        #expect(refused.header("Retry-After") == String(Self.december - app.clock.now()))

        setClock(app, to: Self.december + 7_200)
        pair = try refreshed(app, pair)
        #expect(try greeting(greet(app, pair.access_token)).calls_today == 1)
    }

    @Test func decemberRollsOverIntoJanuary() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let plan = Plan(name: "starter", monthly: 1)
        let lastSecond = UTCDay.start(year: 2027, month: 1, day: 1) - 1
        _ = try counted(record(app, plan: plan, at: lastSecond - 86_400 * 10))
        let exceeded = try overLimit(record(app, plan: plan, at: lastSecond))
        #expect(exceeded == QuotaExceeded(plan: "starter", limit: 1, period: .month, resetsAt: lastSecond + 1))
        let message = UsageLimits.message(exceeded, book: PlanBook(plans: [plan]), now: lastSecond)
        #expect(message == "You have used all 1 requests of the starter plan this month. Your limit resets on 1 January 2027 (UTC).")
        let counter = try counted(record(app, plan: plan, at: lastSecond + 1))
        #expect((counter.day, counter.month, counter.dayCount, counter.monthCount, counter.total)
                    == ("2027-01-01", "2027-01", 1, 1, 2))
    }

    @Test func theDailyLimitIsCheckedBeforeTheMonthlyOne() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let plan = Plan(name: "both", daily: 2, monthly: 3)
        let day1 = UTCDay.start(year: 2026, month: 11, day: 10) + 3_600
        _ = try counted(record(app, plan: plan, at: day1))
        if case .counted(_, let remaining) = try record(app, plan: plan, at: day1 + 1) { #expect(remaining == 0) }
        let daily = try overLimit(record(app, plan: plan, at: day1 + 2))
        #expect(daily.period == .day)
        #expect(daily.limit == 2)
        #expect(daily.resetsAt == UTCDay.start(year: 2026, month: 11, day: 11))
        let day2 = day1 + 86_400
        if case .counted(_, let remaining) = try record(app, plan: plan, at: day2) { #expect(remaining == 1) }
        let monthly = try overLimit(record(app, plan: plan, at: day2 + 1))
        #expect(monthly.period == .month)
        #expect(monthly.limit == 3)
        #expect(monthly.resetsAt == UTCDay.start(year: 2026, month: 12, day: 1))
        #expect(try usage(app)?.total == 3)
    }

    // MARK: Which plan applies

    @Test func aUsersOwnPlanOverridesTheDefault() throws {
        let app = try installation(at: Self.noon)
        defer { app.remove() }
        try savePlans(app, [Plan(name: "free", daily: 1), Plan(name: "pro", daily: 5)], default: "free")
        let pair = try obtainTokens(app, client: app.chatGPT)
        #expect(try setUser(app) { $0.plan = "pro" })
        for call in 1...5 {
            #expect(try greeting(greet(app, pair.access_token)).remaining_today == 5 - call)
        }
        let error = try errorBody(greet(app, pair.access_token), status: 402)
        #expect(error.message.contains("all 5 requests of the pro plan"))
    }

    @Test func aPlanChangeTakesEffectOnTheNextCall() throws {
        let app = try installation(at: Self.noon)
        defer { app.remove() }
        try savePlans(app, [Plan(name: "free", daily: 1), Plan(name: "pro", daily: 4)], default: "free")
        let pair = try obtainTokens(app, client: app.chatGPT)
        _ = try greeting(greet(app, pair.access_token))
        #expect(try errorBody(greet(app, pair.access_token), status: 402).message.contains("free plan"))
        #expect(try setUser(app) { $0.plan = "pro" })
        let body = try greeting(greet(app, pair.access_token))
        #expect(body.calls_today == 2)
        #expect(body.remaining_today == 2)
        #expect(try setUser(app) { $0.plan = nil })
        #expect(greet(app, pair.access_token).status == 402)
    }

    @Test(arguments: ["platinum", "", "FREE"])
    func anUnknownPlanFallsBackToTheDefault(_ name: String) throws {
        let app = try installation(at: Self.noon)
        defer { app.remove() }
        try savePlans(app, [Plan(name: "free", daily: 1), Plan(name: "pro", daily: 100)], default: "free")
        let pair = try obtainTokens(app, client: app.chatGPT)
        #expect(try setUser(app) { $0.plan = name })
        #expect(try greeting(greet(app, pair.access_token)).remaining_today == 0)
        let error = try errorBody(greet(app, pair.access_token), status: 402)
        #expect(error.message.contains("all 1 requests of the free plan"))
    }

    @Test func withoutAPlanBookCallsAreUnlimited() throws {
        let app = try installation(at: Self.noon)
        defer { app.remove() }
        let pair = try obtainTokens(app, client: app.chatGPT)
        #expect(try app.store.planBook(clientID: app.chatGPT.id) == nil)
        #expect(try setUser(app) { $0.plan = "free" })  // a plan name means nothing without plans
        for call in 1...60 {
            let body = try greeting(greet(app, pair.access_token))
            #expect(body.calls_today == call)
            #expect(body.remaining_today == nil)
        }
        #expect(try usage(app)?.total == 60)
    }

    @Test func withoutADefaultPlanUsersWithoutAPlanAreUnlimited() throws {
        let app = try installation(at: Self.noon)
        defer { app.remove() }
        try savePlans(app, [Plan(name: "free", daily: 1)], default: nil)
        let pair = try obtainTokens(app, client: app.chatGPT)
        for _ in 1...5 { #expect(try greeting(greet(app, pair.access_token)).remaining_today == nil) }
        #expect(try setUser(app) { $0.plan = "free" })
        #expect(greet(app, pair.access_token).status == 402)

        // A default naming no plan is unlimited too.
        try savePlans(app, [Plan(name: "free", daily: 1)], default: "gone")
        #expect(try setUser(app) { $0.plan = nil })
        #expect(try greeting(greet(app, pair.access_token)).calls_today == 6)
    }

    @Test func aPlanWithoutNumbersIsUnlimited() throws {
        let app = try installation(at: Self.noon)
        defer { app.remove() }
        try savePlans(app, [Plan(name: "unlimited")], default: "unlimited")
        let pair = try obtainTokens(app, client: app.chatGPT)
        for _ in 1...20 { #expect(try greeting(greet(app, pair.access_token)).remaining_today == nil) }
        #expect(check(app, pair.access_token).header("X-GPTAuth-Plan") == "unlimited")
    }

    @Test func aPlanBookRoundTripsThroughTheStore() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let book = PlanBook(plans: [Plan(name: "free", daily: 10), Plan(name: "pro", daily: 100, monthly: 2_000),
                                    Plan(name: "team", monthly: 50_000)],
                            defaultPlan: "free", upgradeURL: Self.upgradeURL, messageTemplate: "{limit} {period}")
        try app.store.savePlanBook(book, clientID: app.chatGPT.id)
        #expect(try app.store.planBook(clientID: app.chatGPT.id) == book)
        #expect(try app.store.planBook(clientID: app.exact.id) == nil)
        #expect(book.plan(named: "pro") == Plan(name: "pro", daily: 100, monthly: 2_000))
        #expect(book.plan(named: nil) == nil)
        #expect(book.plan(named: "nope") == nil)
    }

    // MARK: The message

    @Test func aCustomMessageTemplateIsFilled() throws {
        let app = try installation(at: Self.beforeMidnight)
        defer { app.remove() }
        try savePlans(app, [Plan(name: "free", daily: 3)], default: "free",
                      template: "{plan}: {limit} calls {period}, again {reset}. Upgrade: {upgrade} ({limit}/{plan})")
        let pair = try obtainTokens(app, client: app.chatGPT)
        for _ in 1...3 { _ = try greeting(greet(app, pair.access_token)) }
        let error = try errorBody(greet(app, pair.access_token), status: 402)
        #expect(error.error == "payment_required")
        #expect(error.message == "free: 3 calls today, again at 00:00 UTC (within the hour). "
                    + "Upgrade: \(Self.upgradeURL) (3/free)")
    }

    @Test func theMonthlyTemplateNamesTheResetDate() {
        let book = PlanBook(plans: [], upgradeURL: nil, messageTemplate: "{period} on {plan} ({limit}), {reset}.{upgrade}")
        let exceeded = QuotaExceeded(plan: "starter", limit: 500, period: .month, resetsAt: Self.december)
        #expect(UsageLimits.message(exceeded, book: book, now: Self.noon)
                    == "this month on starter (500), on 1 December 2026 (UTC).")
    }

    @Test func anEmptyTemplateGivesTheStandardMessage() {
        let exceeded = QuotaExceeded(plan: "free", limit: 3, period: .day, resetsAt: Self.midnight)
        let standard = UsageLimits.message(exceeded, book: PlanBook(upgradeURL: Self.upgradeURL), now: Self.noon)
        #expect(UsageLimits.message(exceeded, book: PlanBook(upgradeURL: Self.upgradeURL, messageTemplate: ""), now: Self.noon)
                    == standard)
        #expect(standard == "You have used all 3 requests of the free plan today. Your limit resets at 00:00 UTC (in 12 hours). "
                    + "To keep going now, upgrade at \(Self.upgradeURL).")
        // Without an upgrade address the last sentence is left out.
        #expect(UsageLimits.message(exceeded, book: nil, now: Self.noon)
                    == "You have used all 3 requests of the free plan today. Your limit resets at 00:00 UTC (in 12 hours).")
    }

    @Test(arguments: [
        (0, "(in 24 hours)"), (1, "(in 24 hours)"), (82_799, "(in 2 hours)"), (82_800, "(within the hour)"),
        (86_390, "(within the hour)"), (86_399, "(within the hour)"),
    ] as [(Int64, String)])
    func theDailyMessageSaysHowManyHoursAreLeft(_ secondsIntoTheDay: Int64, _ phrase: String) {
        let dayStart = UTCDay.start(year: 2026, month: 11, day: 29)
        let now = dayStart + secondsIntoTheDay
        let exceeded = QuotaExceeded(plan: "free", limit: 3, period: .day, resetsAt: UTCDay(now).nextDayStart)
        let message = UsageLimits.message(exceeded, book: nil, now: now)
        #expect(message.contains("resets at 00:00 UTC \(phrase)"), "\(message)")
    }

    @Test(arguments: [
        (2026, 1, 15, "1 February 2026"), (2026, 2, 28, "1 March 2026"), (2024, 2, 29, "1 March 2024"),
        (2026, 11, 30, "1 December 2026"), (2026, 12, 31, "1 January 2027"),
    ] as [(Int64, Int64, Int64, String)])
    func theMonthlyMessageNamesTheFirstOfNextMonth(_ year: Int64, _ month: Int64, _ day: Int64, _ date: String) {
        let now = UTCDay.start(year: year, month: month, day: day) + 50_000
        let exceeded = UsageLimits.exceeded(UsageCounter(clientID: "c", userID: "u", email: "e", now: now),
                                            plan: Plan(name: "m", monthly: 0), now: now)
        guard let exceeded else { Issue.record("a monthly limit of 0 must be exceeded"); return }
        #expect(exceeded.period == .month)
        #expect(UsageLimits.message(exceeded, book: nil, now: now).contains("resets on \(date) (UTC)."))
    }

    // MARK: Blocked users

    @Test func aBlockedUserIsRefusedWith403AndNotCounted() throws {
        let app = try installation(at: Self.noon)
        defer { app.remove() }
        try savePlans(app, [Plan(name: "free", daily: 1)], default: "free")
        let pair = try obtainTokens(app, client: app.chatGPT)
        let grace = try obtainTokens(app, client: app.chatGPT, email: "grace@example.com")
        _ = try greeting(greet(app, pair.access_token))
        #expect(try setUser(app) { $0.blocked = true })

        // Blocked comes before the limit (the user has also used up today's call).
        let refused = greet(app, pair.access_token)
        let error = try errorBody(refused, status: 403)
        #expect(error.error == "access_blocked")
        #expect(!error.message.isEmpty)
        #expect(refused.header("Retry-After") == nil)
        #expect(try usage(app)?.total == 1)

        // Others are not affected.
        #expect(try greeting(greet(app, grace.access_token)).calls_today == 1)

        // Unblocking restores access (here: to the limit again), a plan upgrade then to calls.
        #expect(try setUser(app) { $0.blocked = false })
        #expect(greet(app, pair.access_token).status == 402)
        #expect(try setUser(app) { $0.blocked = nil; $0.plan = "unknown" })
        try savePlans(app, [Plan(name: "free", daily: 1)], default: nil)
        #expect(try greeting(greet(app, pair.access_token)).calls_today == 2)
    }

    @Test func unblockingRestoresAccess() throws {
        let app = try installation(at: Self.noon)
        defer { app.remove() }
        let pair = try obtainTokens(app, client: app.chatGPT)
        #expect(try setUser(app) { $0.blocked = true })
        #expect(try errorBody(greet(app, pair.access_token), status: 403).error == "access_blocked")
        #expect(try usage(app) == nil)
        #expect(try setUser(app) { $0.blocked = false })
        #expect(try greeting(greet(app, pair.access_token)).calls_today == 1)
    }

    @Test func updateUserOfAnUnknownUserIsNil() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        #expect(try setUser(app, email: "nobody@example.com") { $0.blocked = true } == false)
        #expect(try app.store.user(clientID: app.chatGPT.id, email: "nobody@example.com") == nil)
    }

    // MARK: S20, S21 through the gate

    @Test func S20_gateRefusesAnotherGPTsToken() throws {
        let app = try installation(at: Self.noon)
        defer { app.remove() }
        let pair = try obtainTokens(app, client: app.chatGPT)
        let refused = app.greeting(pair.access_token, audience: app.exact.id)
        #expect(try errorBody(refused, status: 401).error == "invalid_token")
        #expect(refused.header("WWW-Authenticate")?.contains(#"error="invalid_token""#) == true)
        let checked = check(app, pair.access_token, audience: app.exact.id)
        #expect(checked.status == 401)
        #expect(try checkError(checked).message.contains("another GPT"))
        #expect(checked.header("X-GPTAuth-User") == nil)
        #expect(try usage(app) == nil)
        #expect(try app.store.usage(clientID: app.exact.id, userID: userID(clientID: app.exact.id, email: "ada@example.com")) == nil)
        // An API serving both GPTs admits it.
        #expect(try greeting(app.greeting(pair.access_token, audience: "\(app.exact.id),\(app.chatGPT.id)")).calls_today == 1)
    }

    @Test func S21_revokedTokensAreRefusedOnTheNextCall() throws {
        let app = try installation(at: Self.noon)
        defer { app.remove() }
        let first = try obtainTokens(app, client: app.chatGPT)
        let second = try obtainTokens(app, client: app.chatGPT)  // a second family of the same user
        let grace = try obtainTokens(app, client: app.chatGPT, email: "grace@example.com")
        #expect(try greeting(greet(app, first.access_token)).calls_today == 1)
        #expect(try greeting(greet(app, second.access_token)).calls_today == 2)
        #expect(check(app, first.access_token).status == 204)

        let revoked = try app.store.revokeUserTokens(clientID: app.chatGPT.id, userID: adaID(app), reason: "operator",
                                                     now: app.clock.now())
        #expect(revoked == 2)
        for token in [first.access_token, second.access_token] {
            let refused = greet(app, token)
            #expect(try errorBody(refused, status: 401).error == "invalid_token")
            #expect(check(app, token).status == 401)
        }
        #expect(app.refresh(first.refresh_token, client: app.chatGPT).status == 400)
        #expect(try usage(app)?.total == 3)
        #expect(try greeting(greet(app, grace.access_token)).calls_today == 1)

        // Nothing left to revoke; signing in again works.
        #expect(try app.store.revokeUserTokens(clientID: app.chatGPT.id, userID: adaID(app), reason: "operator",
                                               now: app.clock.now()) == 0)
        #expect(try app.store.revokeUserTokens(clientID: app.exact.id, userID: adaID(app), reason: "operator",
                                               now: app.clock.now()) == 0)
        let again = try obtainTokens(app, client: app.chatGPT)
        #expect(try greeting(greet(app, again.access_token)).calls_today == 4)
    }

    // MARK: The nginx check gate

    @Test func checkAdmitsAValidTokenWith204AndIdentityHeaders() throws {
        let app = try installation(at: Self.noon)
        defer { app.remove() }
        try savePlans(app, [Plan(name: "free", daily: 5)], default: "free")
        let pair = try obtainTokens(app, client: app.chatGPT)
        let admitted = check(app, pair.access_token)
        #expect(admitted.status == 204)
        #expect(admitted.body.isEmpty)
        #expect(admitted.header("X-GPTAuth-User") == adaID(app))
        #expect(admitted.header("X-GPTAuth-Email") == "ada@example.com")
        #expect(admitted.header("X-GPTAuth-Client") == app.chatGPT.id)
        #expect(admitted.header("X-GPTAuth-Plan") == "free")
        #expect(admitted.header("X-GPTAuth-Calls-Today") == "1")
        #expect(admitted.header("X-GPTAuth-Remaining-Today") == "4")
        #expect(admitted.header("X-GPTAuth-Error") == nil)
        #expect(admitted.header("Cache-Control") == "no-store")
        // The gate and the greeting API share one counter.
        #expect(check(app, pair.access_token).header("X-GPTAuth-Calls-Today") == "2")
        #expect(try greeting(greet(app, pair.access_token)).calls_today == 3)
        #expect(check(app, pair.access_token).header("X-GPTAuth-Remaining-Today") == "1")
    }

    @Test func checkWithoutPlansSendsAnEmptyPlanAndNoRemaining() throws {
        let app = try installation(at: Self.noon)
        defer { app.remove() }
        let pair = try obtainTokens(app, client: app.chatGPT)
        let admitted = check(app, pair.access_token)
        #expect(admitted.status == 204)
        #expect(admitted.header("X-GPTAuth-Plan") == "")
        #expect(admitted.header("X-GPTAuth-Remaining-Today") == nil)
        #expect(admitted.header("X-GPTAuth-Calls-Today") == "1")
    }

    @Test(arguments: [nil, "", "gpa_at_unknown", "not a token"] as [String?])
    func checkAnswers401ForABadTokenWithTheErrorAsJSONHeader(_ token: String?) throws {
        let app = try installation(at: Self.noon)
        defer { app.remove() }
        let refused = check(app, token)
        #expect(refused.status == 401)
        #expect(refused.header("WWW-Authenticate")?.hasPrefix("Bearer ") == true)
        let error = try checkError(refused)
        #expect(error.error == "invalid_token")
        #expect(!error.message.isEmpty)
        #expect(refused.header("X-GPTAuth-Status") == "401")
        #expect(refused.header("X-GPTAuth-User") == nil)
    }

    @Test func checkRefusesABlockedUserWith403() throws {
        let app = try installation(at: Self.noon)
        defer { app.remove() }
        let pair = try obtainTokens(app, client: app.chatGPT)
        #expect(try setUser(app) { $0.blocked = true })
        let refused = check(app, pair.access_token)
        #expect(refused.status == 403)
        #expect(try checkError(refused).error == "access_blocked")
        #expect(refused.header("X-GPTAuth-Status") == "403")
        #expect(try usage(app) == nil)
    }

    /// A plan chooses its over-limit answer: 402 (default), 429 (with Retry-After), or 200 with the
    /// message as the answer; a GPT with a plan to buy names each user's own upgrade link.
    @Test func overLimitStatusIsThePlans_andTheMessageCarriesTheUsersUpgradeLink() throws {
        let app = try installation(at: Self.beforeMidnight)
        defer { app.remove() }
        for (status, error, retryAfter) in [(429, "quota_exceeded", "10"), (200, "quota_exceeded", nil), (402, "payment_required", "10")] {
            try savePlans(app, [Plan(name: "free", daily: 0, overLimitStatus: status),
                                Plan(name: "pro", daily: 100, paymentLink: "https://buy.stripe.com/test_pro")], default: "free")
            let pair = try obtainTokens(app, client: app.chatGPT)
            let refused = greet(app, pair.access_token)
            #expect(refused.status == status)
            #expect(refused.header("Retry-After") == retryAfter)
            let body = try errorBody(refused, status: status)
            #expect(body.error == error)
            let link = app.service.configuration.baseURL + "/billing/upgrade?t="
            #expect(body.message.contains("upgrade at \(link)"), "\(body.message)")
            #expect(!body.message.contains(Self.upgradeURL), "the user's own link replaces the book's URL")
            let gate = check(app, pair.access_token)
            #expect(gate.status == 403 && gate.header("X-GPTAuth-Status") == String(status))
            // The link opens for this user only, sealed.
            let token = String(body.message.split(separator: "t=")[1].prefix { $0 != "." && $0 != " " })
            let opened = try UpgradeSeal(secret: app.service.configuration.macKey).open(link: token.removingPercentEncoding ?? token, now: Self.beforeMidnight)
            #expect(opened.clientID == app.chatGPT.id)
        }
    }

    /// `auth_request` cannot pass a 402, so the gate answers a reached limit 403 and carries the real
    /// status, the JSON body and Retry-After in headers for nginx's error_page.
    @Test func checkRefusesAReachedLimitWithTheRealStatusInAHeader() throws {
        let app = try installation(at: Self.beforeMidnight)
        defer { app.remove() }
        try savePlans(app, [Plan(name: "free", daily: 2)], default: "free")
        let pair = try obtainTokens(app, client: app.chatGPT)
        #expect(check(app, pair.access_token).status == 204)
        #expect(check(app, pair.access_token).header("X-GPTAuth-Remaining-Today") == "0")
        let refused = check(app, pair.access_token)
        #expect(refused.status == 403)
        #expect(refused.header("X-GPTAuth-Status") == "402")
        #expect(refused.header("Retry-After") == "10")
        let error = try checkError(refused)
        #expect(error.error == "payment_required")
        #expect(error.message.contains("all 2 requests"))
        #expect(error.message.contains(Self.upgradeURL))
        #expect(try usage(app)?.total == 2)
        app.clock.advance(by: 10)
        #expect(check(app, pair.access_token).status == 204)
    }

    // MARK: Concurrency

    @Test func concurrentCallsWithoutAPlanAreAllCounted() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let store = app.store
        let clientID = app.chatGPT.id
        let user = adaID(app)
        let now = Self.noon
        let errors = SharedList<String>()
        let counted = SharedList<Bool>()
        runOnThreads(8) { _ in
            for _ in 0..<500 {
                do {
                    if case .counted = try store.recordCall(clientID: clientID, userID: user, email: "ada@example.com",
                                                            plan: nil, now: now) {
                        counted.append(true)
                    }
                } catch {
                    errors.append("\(error)")
                }
            }
        }
        #expect(errors.values.isEmpty, "\(errors.values.prefix(3))")
        #expect(counted.values.count == 4_000)
        let counter = try #require(try store.usage(clientID: clientID, userID: user))
        #expect(counter.total == 4_000)
        #expect(counter.dayCount == 4_000)
        #expect(counter.monthCount == 4_000)
        #expect(counter.history == ["2026-11-29": 4_000])
    }

    @Test func concurrentCallsStopExactlyAtTheDailyLimit() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let store = app.store
        let clientID = app.chatGPT.id
        let user = adaID(app)
        let now = Self.noon
        let plan = Plan(name: "free", daily: 1_000)
        let errors = SharedList<String>()
        let remaining = SharedList<Int>()
        let refused = SharedList<QuotaExceeded>()
        runOnThreads(8) { _ in
            for _ in 0..<200 {
                do {
                    switch try store.recordCall(clientID: clientID, userID: user, email: "ada@example.com", plan: plan, now: now) {
                    case .counted(_, let left):
                        remaining.append(left ?? -1)
                    case .overLimit(let exceeded):
                        refused.append(exceeded)
                    }
                } catch {
                    errors.append("\(error)")
                }
            }
        }
        #expect(errors.values.isEmpty, "\(errors.values.prefix(3))")
        #expect(remaining.values.count == 1_000)
        #expect(refused.values.count == 600)
        let reset = UTCDay(now).nextDayStart
        #expect(refused.values.allSatisfy { $0 == QuotaExceeded(plan: "free", limit: 1_000, period: .day, resetsAt: reset) })
        // Each admitted call saw its own count: the remainders are 999…0, each once.
        #expect(remaining.values.sorted() == Array(0..<1_000))
        let counter = try #require(try store.usage(clientID: clientID, userID: user))
        #expect(counter.total == 1_000)
        #expect(counter.dayCount == 1_000)
    }

    // MARK: History

    @Test func historyKeepsAtMostHistoryDaysDays() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let first = UTCDay.start(year: 2025, month: 1, day: 1) + 36_000
        let days = UsageCounter.historyDays + 50
        var counter: UsageCounter?
        for index in 0..<days {
            let now = first + Int64(index) * 86_400
            counter = try counted(record(app, plan: nil, at: now))
            if index == 10 { _ = try counted(record(app, plan: nil, at: now + 1)) }  // two calls on one day
        }
        // A call reports its counts and total; the history is `usage`'s to read.
        let reported = try #require(counter)
        let last = try #require(try usage(app))
        #expect(last.total == days + 1 && reported.total == last.total)
        #expect((last.day, last.dayCount, last.month, last.monthCount) == (reported.day, reported.dayCount, reported.month, reported.monthCount))
        #expect(last.history.count == UsageCounter.historyDays)
        let kept = last.history.keys.sorted()
        #expect(kept.first == UTCDay(first + Int64(days - UsageCounter.historyDays) * 86_400).text)
        #expect(kept.last == UTCDay(first + Int64(days - 1) * 86_400).text)
        #expect(last.history.values.allSatisfy { $0 == 1 })
    }

    @Test func historyOfADayCountsEveryCallOfThatDay() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let day = UTCDay.start(year: 2026, month: 11, day: 29)
        for offset in [0, 1, 40_000, 86_399] as [Int64] { _ = try record(app, plan: nil, at: day + offset) }
        _ = try record(app, plan: nil, at: day + 86_400)
        let counter = try #require(try usage(app))
        #expect(counter.history == ["2026-11-29": 4, "2026-11-30": 1])
    }

    /// `UsageCounter.history` holds the calls per UTC day for the last `historyDays` days, also for a
    /// user who calls only now and then (so fewer than `historyDays` entries).
    @Test func historyDropsDaysOlderThanHistoryDays() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let first = UTCDay.start(year: 2025, month: 1, day: 1) + 36_000
        for week in 0..<80 {  // one call a week for 80 weeks (560 days)
            _ = try counted(record(app, plan: nil, at: first + Int64(week) * 7 * 86_400))
        }
        let counter = try #require(try usage(app))
        let oldestAllowed = UTCDay(counter.lastCall - Int64(UsageCounter.historyDays) * 86_400).text
        #expect(counter.total == 80)
        #expect(counter.history.keys.allSatisfy { $0 > oldestAllowed }, "oldest kept: \(counter.history.keys.min() ?? "")")
        // Last call on day 553: days 154…553 are kept, i.e. weeks 22…79.
        #expect(counter.history.count == 58)
        #expect(counter.history.keys.min() == UTCDay(first + 22 * 7 * 86_400).text)
    }

    // MARK: Calls that reach the store out of order

    /// A call whose time was read just before midnight but that takes the lock just after a call
    /// of the new day must not wipe the new day's (or month's) count.
    @Test func aLateCallFromBeforeMidnightDoesNotResetTheNewDay() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        _ = try counted(record(app, plan: nil, at: Self.december + 1))
        _ = try counted(record(app, plan: nil, at: Self.december + 1))
        _ = try record(app, plan: nil, at: Self.december - 1)  // stamped 2026-11-30T23:59:59Z
        let after = try counted(record(app, plan: nil, at: Self.december + 2))
        #expect(after.total == 4)
        #expect(after.day == "2026-12-01")
        // Days only roll forward: the late call counts in the new day, and nothing is lost.
        #expect(after.dayCount == 4)
        #expect(after.monthCount == 4)
        #expect(after.month == "2026-12")
        #expect(try usage(app)?.history == ["2026-12-01": 4])
    }
}
