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

    /// Runs what is due; true when due work is left.
    @discardableResult
    public func run(budget: SweepBudget = .perRequest) -> Bool {
        let now = service.clock.now()
        var more = false
        do {
            more = try service.store.sweepExpired(now: now, budget: budget)
        } catch {
            log.error("sweep_failed", ["reason": String(describing: error)])
        }
        do {
            more = try Retention(service: service).trim(now: now, budget: budget) || more
        } catch {
            log.error("retention_failed", ["reason": String(describing: error)])
        }
        return more
    }
}

/// How long the files that only ever grow are kept: `audit/<day>.log` (`auditRetentionDays`) and
/// the `folder` mail backend's `<time>-<id>.eml` (`mailRetentionDays`). Checked at most hourly.
public struct Retention: Sendable {
    public let service: Service

    public init(service: Service) { self.service = service }

    var stamp: String { "\(service.dataFolder)/expiry/.retention" }

    /// Deletes what is past retention; true when more is left than `budget.files` allowed.
    public func trim(now: UnixTime, budget: SweepBudget) throws(StoreError) -> Bool {
        if let bytes = FileIO.readAll(stamp), let last = Int64(String(decoding: bytes, as: UTF8.self)), now - last < 3600 {
            return false
        }
        let configuration = service.configuration
        var deleted = 0
        if configuration.auditRetentionDays > 0 {
            let folder = "\(service.dataFolder)/audit"
            let oldest = UTCDay(now - configuration.auditRetentionDays * 86_400)
            for name in FileIO.list(folder) where name.hasSuffix(".log") {
                guard let day = UTCDay.parse(String(name.dropLast(4))), day < oldest else { continue }
                guard deleted < budget.files else { return true }
                try FileIO.remove("\(folder)/\(name)")
                deleted += 1
            }
        }
        if configuration.mailRetentionDays > 0, configuration.mail.backend == "folder" {
            let folder = Mailer.folder(configuration.mail, dataFolder: service.dataFolder)
            let cutoff = now - configuration.mailRetentionDays * 86_400
            for name in FileIO.list(folder) where name.hasSuffix(".eml") {
                guard let sent = Int64(name.prefix { $0 != "-" }), sent < cutoff else { continue }
                guard deleted < budget.files else { return true }
                try FileIO.remove("\(folder)/\(name)")
                deleted += 1
            }
        }
        try FileIO.makeFolders("\(service.dataFolder)/expiry")
        try FileIO.writeAtomically(stamp, Array(String(now).utf8), sync: false)
        return false
    }
}
