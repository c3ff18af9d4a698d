import Testing
@testable import GPTAuthCore

/// The rules every store engine applies under a record's lock, as pure decisions: what each input
/// state leads to, and what (if anything) is written back.
@Suite("Store rules")
struct StoreRulesTests {
    static let now = TestClock.start
    typealias Fixture = FileStoreTests

    // MARK: CodeRedemptionRule (S05)

    @Test func S05_codeRedemptionDecisionTable() {
        let fresh = Fixture.code("c")
        var spent = fresh
        spent.consumedAt = Self.now
        spent.familyID = "first"
        // (stored code, at, presented by, expected outcome, written?)
        let rows: [(AuthorizationCodeRecord?, UnixTime, String?, String, Bool)] = [
            (nil, Self.now, nil, "unknown", false),
            (fresh, Self.now + 1, nil, "redeemed", true),
            (fresh, Self.now + 1, fresh.clientID, "redeemed", true),
            (fresh, fresh.expiresAt - 1, nil, "redeemed", true),
            (fresh, fresh.expiresAt, nil, "expired", false),
            (spent, Self.now + 1, nil, "alreadyUsed(first)", false),
            (spent, spent.expiresAt + 10, nil, "alreadyUsed(first)", false),  // reuse is recognised after expiry too
            // S06: another client (a public client's id needs no secret) neither spends nor revokes.
            (fresh, Self.now + 1, "https://evil.example/client.json", "anotherClient", false),
            (spent, Self.now + 1, "https://evil.example/client.json", "anotherClient", false),
        ]
        for (stored, at, requester, expected, written) in rows {
            let (write, outcome) = CodeRedemptionRule.redeem(stored, now: at, familyID: "new", requester: requester)
            let name: String
            switch outcome {
            case .unknown: name = "unknown"
            case .expired: name = "expired"
            case .redeemed(let record): name = "redeemed"; #expect(record.familyID == "new" && record.consumedAt == at)
            case .alreadyUsed(let record): name = "alreadyUsed(\(record.familyID ?? ""))"
            case .issuedToAnotherClient: name = "anotherClient"
            }
            #expect(name == expected, "at \(at)")
            #expect((write != nil) == written)
        }
    }

    // MARK: RefreshTokenRotation.apply (S19)

    @Test func S19_rotationStepDecisionTable() {
        let (base, _, presented) = Fixture.tokens(family: "fam")
        var graced = base
        graced.currentGeneration = 1
        graced.graceGeneration = 0
        graced.graceUntil = Self.now + 30
        var revoked = base
        revoked.revokedAt = Self.now - 1
        revoked.revokedReason = "operator"
        let issue: (TokenFamily) -> (AccessTokenRecord, RefreshTokenRecord) = { family in
            var (_, access, refresh) = Fixture.tokens(family: family.id, at: Self.now)
            refresh.generation = family.currentGeneration
            refresh.expiresAt = Self.now + 999
            access.digest = Secrets.digest("next")
            return (access, refresh)
        }
        // (family, client, at, grace) → (outcome, new generation, grace generation kept, family written, pair made)
        let rows: [(TokenFamily, String, UnixTime, Int64, String, Int?, Int?, Bool, Bool)] = [
            (base, "gptc_a", Self.now, 30, "rotated", 1, 0, true, true),
            (base, "gptc_a", Self.now, 0, "rotated", 1, nil, true, true),
            (graced, "gptc_a", Self.now + 29, 30, "rotated", 2, nil, true, true),   // the one retry
            (graced, "gptc_a", Self.now + 30, 30, "reuse", nil, nil, true, false), // grace over
            (base, "gptc_b", Self.now, 30, "invalid", nil, nil, false, false),     // S20
            (revoked, "gptc_a", Self.now, 30, "invalid", nil, nil, false, false),
            (base, "gptc_a", base.expiresAt, 30, "invalid", nil, nil, false, false), // S18
        ]
        for (family, client, at, grace, expected, generation, graceGeneration, writes, pairs) in rows {
            let step = RefreshTokenRotation.apply(family: family, presented: presented, clientID: client, now: at, grace: grace, issue: issue)
            switch step.outcome {
            case .rotated(let next, _, let refresh):
                #expect(expected == "rotated")
                #expect(next.currentGeneration == generation && next.graceGeneration == graceGeneration)
                #expect(refresh.generation == next.currentGeneration && next.expiresAt == refresh.expiresAt)
            case .reuseDetected(let next):
                #expect(expected == "reuse")
                #expect(next.revokedAt == at && next.revokedReason == "refresh token reuse")
            case .invalid:
                #expect(expected == "invalid")
            }
            #expect((step.family != nil) == writes)
            #expect((step.pair != nil) == pairs)
        }
    }

    @Test func S21_revocationKeepsTheFirstReason() {
        let (family, _, _) = Fixture.tokens(family: "fam")
        let once = family.revoked(reason: "first", now: Self.now)
        #expect(once?.revokedAt == Self.now && once?.revokedReason == "first")
        #expect(once?.revoked(reason: "second", now: Self.now + 1) == nil)
        let tombstone = TokenFamily.tombstone(id: "early", reason: "authorization code reuse", now: Self.now)
        #expect(tombstone.revokedAt == Self.now && tombstone.expiresAt == Self.now + 86_400 && tombstone.clientID.isEmpty)
    }

    // MARK: CallMetering

    @Test func callMeteringDecisionTable() {
        let today = UTCDay(Self.now)
        var atLimit = UsageCounter(clientID: "gptc_a", userID: "u1", email: "ada@example.com", now: Self.now)
        atLimit.dayCount = 2
        atLimit.monthCount = 2
        atLimit.total = 7
        let free = Plan(name: "free", daily: 2, monthly: 5)
        // (stored, plan, at) → (counted?, day count, month count, total, remaining)
        let rows: [(UsageCounter?, Plan?, UnixTime, Bool, Int, Int, Int, Int?)] = [
            (nil, nil, Self.now, true, 1, 1, 1, nil),
            (nil, free, Self.now, true, 1, 1, 1, 1),
            (atLimit, free, Self.now, false, 2, 2, 7, nil),
            (atLimit, nil, Self.now, true, 3, 3, 8, nil),
            (atLimit, free, today.nextDayStart, true, 1, 3, 8, 1),              // a new day
            (atLimit, Plan(name: "m", monthly: 2), today.nextDayStart, false, 2, 2, 7, nil),
        ]
        for (stored, plan, at, counted, day, month, total, remaining) in rows {
            let step = CallMetering.count(stored, clientID: "gptc_a", userID: "u1", email: "ada@example.com", plan: plan, now: at)
            switch step.decision {
            case .counted(let counter, let left):
                #expect(counted)
                #expect(step.write == counter)
                #expect(counter.dayCount == day && counter.monthCount == month && counter.total == total && left == remaining)
                #expect(counter.history[counter.day] == (stored?.history[counter.day] ?? 0) + 1)
            case .overLimit(let exceeded):
                #expect(!counted)
                #expect(step.write == nil, "a refusal writes nothing")
                #expect(exceeded.limit == 2)
            }
        }
        let book = PlanBook(plans: [free, Plan(name: "pro")], defaultPlan: "free")
        var user = User(id: "u1", clientID: "gptc_a", email: "a@example.com", name: "", provider: "email", subject: "",
                        firstSeen: 0, lastSeen: 0, consentedAt: nil)
        #expect(CallMetering.plan(for: nil, in: nil) == nil)
        #expect(CallMetering.plan(for: user, in: book) == free)
        user.plan = "pro"
        #expect(CallMetering.plan(for: user, in: book)?.name == "pro")
        user.plan = "gone"
        #expect(CallMetering.plan(for: user, in: book) == free)
    }

    // MARK: EventWindow (S30, S32)

    @Test func S30_eventWindowDecisionTable() {
        let open = EventWindow(start: Self.now, count: 1, expiresAt: Self.now + 60)
        let full = EventWindow(start: Self.now, count: 2, expiresAt: Self.now + 60)
        let over = EventWindow(start: Self.now, count: 3, expiresAt: Self.now + 60)
        // (stored, at, limit 2, window 60) → (allowance, count written)
        let rows: [(EventWindow?, UnixTime, Allowance, Int?)] = [
            (nil, Self.now, .allowed, 1),
            (open, Self.now + 5, .allowed, 2),
            (full, Self.now + 5, .limited(retryAfter: 55, firstRefusal: true), 3),
            (over, Self.now + 5, .limited(retryAfter: 55), nil),     // stops growing
            (over, Self.now + 60, .allowed, 1),                      // a new window
        ]
        for (stored, at, allowance, written) in rows {
            let step = EventWindow.count(stored, limit: 2, window: 60, now: at)
            #expect(step.allowance == allowance)
            #expect(step.write?.count == written)
        }
        #expect(EventWindow.check(full, limit: 2, window: 60, now: Self.now + 59) == .limited(retryAfter: 1))
        #expect(EventWindow.check(open, limit: 2, window: 60, now: Self.now) == .allowed)
        #expect(EventWindow.check(full, limit: 2, window: 60, now: Self.now + 60) == .allowed)
    }
}
