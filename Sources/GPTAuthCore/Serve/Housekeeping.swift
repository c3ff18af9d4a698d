/// Clean-up (S32): expired records, and the audit days and mailed files past their retention.
///
/// It rides on the endpoints that create records (authorize, token) but runs after their response
/// has been sent (`Endpoint.afterResponse`), so no answer waits for it, and each run is bounded by
/// a `SweepBudget`, so the next request to the same process waits at most that long. A backlog is
/// worked off a slice per request. `gptauth sweep` runs the same steps without a budget (cron).
public struct Housekeeping: Sendable {
    public let service: Service
    public let log: Log

    public init(service: Service, log: Log) {
        self.service = service
        self.log = log
    }

    /// Runs what is due, within one `budget` for both steps; true when due work is left.
    @discardableResult
    public func run(budget: SweepBudget = .perRequest) -> Bool {
        let now = service.clock.now()
        let started = Monotonic.milliseconds()
        var more = false
        do {
            more = try service.store.sweepExpired(now: now, budget: budget)
        } catch {
            log.error("sweep_failed", ["reason": String(describing: error)])
        }
        var rest = budget
        if budget.milliseconds != .max {
            rest.milliseconds = max(1, budget.milliseconds - Int(Monotonic.milliseconds() - started))
        }
        do {
            more = try Retention(service: service).trim(now: now, budget: rest) || more
        } catch {
            log.error("retention_failed", ["reason": String(describing: error)])
        }
        return more
    }
}

/// How long the files that only ever grow are kept: `audit/<day>.log` (`auditRetentionDays`), the
/// `folder` mail backend's `<time>-<id>.eml` (`mailRetentionDays`) and the endpoints' own
/// `logs/<day>.log` (`logRetentionDays`). Checked at most hourly.
public struct Retention: Sendable {
    public let service: Service

    public init(service: Service) { self.service = service }

    var stamp: String { "\(service.dataFolder)/expiry/.retention" }

    /// Deletes what is past retention, within `budget` (files and time); true when more is left,
    /// which is then taken up a minute later rather than an hour.
    public func trim(now: UnixTime, budget: SweepBudget) throws(StoreError) -> Bool {
        if FileIO.ranRecently(stamp, now: now, within: 3600) {
            return false
        }
        // One process at a time; the others find the lock taken and go on.
        guard let lock = FileLock.attempt(path: "\(service.dataFolder)/locks/retention") else { return false }
        defer { lock.release() }
        let configuration = service.configuration
        let started = Monotonic.milliseconds()
        var deleted = 0
        var more = false
        func spent() -> Bool { budget.isSpent(deleted: deleted, didWork: deleted > 0, since: started) }
        // The audit trail forgets whole days (a file a day in the folder, rows in the database); the
        // mail folder holds at most what the send limits let through in `mailRetentionDays` days.
        if configuration.auditRetentionDays > 0 {
            let trimmed = try service.auditTrail.trim(before: UTCDay(now - configuration.auditRetentionDays * 86_400),
                                                      limit: min(budget.files, 10_000))
            deleted += trimmed.deleted
            more = trimmed.more
        }
        var expired: [String] = []
        if configuration.mailRetentionDays > 0, configuration.mail.backend == "folder" {
            let folder = Mailer.folder(configuration.mail, dataFolder: service.dataFolder)
            let cutoff = now - configuration.mailRetentionDays * 86_400
            for name in FileIO.list(folder) where name.hasSuffix(".eml") {
                if let sent = Int64(name.prefix { $0 != "-" }), sent < cutoff { expired.append("\(folder)/\(name)") }
            }
        }
        // The endpoints' own day files in the data folder (`Log.dailyFolder`): whole days, by name.
        if configuration.logRetentionDays > 0 {
            let folder = "\(service.dataFolder)/logs"
            let cutoff = UTCDay(now - configuration.logRetentionDays * 86_400).text
            for name in FileIO.list(folder) where name.hasSuffix(".log") || name.hasSuffix(".log.1") {
                let day = String(name.prefix(10))
                guard day.count == 10, day.allSatisfy({ $0.isNumber || $0 == "-" }), day < cutoff else { continue }
                expired.append("\(folder)/\(name)")
            }
        }
        for path in expired {
            if spent() {
                more = true
                break
            }
            try FileIO.remove(path)
            deleted += 1
        }
        try FileIO.makeFolders("\(service.dataFolder)/expiry")
        try FileIO.noteRun(stamp, at: more ? now - 3600 + 60 : now)
        return more
    }
}
