import ArgumentParser
import Foundation
import GPTAuthCore

struct GPTAuthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gptauth",
        abstract: "Operate a GPTAuth installation: its data folder, its GPTs (OAuth clients) and their users.",
        subcommands: [Init.self, MigrateCommand.self, StoreCommand.self, ClientCommand.self, UsersCommand.self, UsageCommand.self, PlanCommand.self, UserCommand.self, AuditCommand.self,
                      SweepCommand.self, HostingCommand.self, BillingCommand.self, ResourceCommand.self, ProviderCommand.self, ConnectorCommand.self, OwnerCommand.self, MetricsCommand.self, DoctorCommand.self]
    )
}

/// `--data DIR`, or `GPTAUTH_DATA`.
struct DataFolder: ParsableArguments {
    @Option(name: .long, help: "The data folder (default: $GPTAUTH_DATA).")
    var data: String?

    func path() throws -> String {
        guard let folder = data ?? ProcessInfo.processInfo.environment["GPTAUTH_DATA"], !folder.isEmpty else {
            throw ValidationError("no data folder: pass --data DIR or set GPTAUTH_DATA")
        }
        return folder
    }

    /// The configured installation; a clear error when the folder is missing or not initialised.
    func service() throws -> Service {
        let folder = try path()
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else {
            throw Failure("no data folder at \(folder): run `gptauth init --data \(folder) --issuer https://…` first")
        }
        // Files this command creates must stay readable by the endpoint pools, which run as the
        // folder's owner: root must not write into someone else's data folder.
        var info = stat()
        if stat(folder, &info) == 0, geteuid() == 0, info.st_uid != 0 {
            let owner = getpwuid(info.st_uid).map { String(cString: $0.pointee.pw_name) } ?? String(info.st_uid)
            throw Failure("\(folder) belongs to \(owner): run this as that user (sudo -u \(owner) gptauth …)")
        }
        do {
            return try Service.load(dataFolder: folder)
        } catch {
            throw Failure(error.description)
        }
    }
}

/// A runtime failure: printed as `Error: …`, exit status 1.
struct Failure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Runs an operator change holding the store's operator lock, so two operators cannot interleave.
func asOperator<T>(_ service: Service, _ body: () throws -> T) throws -> T {
    do {
        return try OperatorLock.holding(dataFolder: service.dataFolder, body)
    } catch let error as StoreError {
        throw Failure(error.description)
    } catch let error as RegistrationError {
        throw Failure(error.description)
    } catch let error as ConfigurationError {
        throw Failure(error.description)
    } catch let error as PlanError {
        throw Failure(error.description)
    }
}

/// An operator change, in the audit trail (not echoed: the command prints its own result).
func audit(_ service: Service, _ event: String, _ fields: KeyValuePairs<String, String>) {
    Log(component: "gptauth", auditTrail: service.auditTrail, echo: false, clock: service.clock).audit(event, fields)
}

/// Prints one line (or block) for the operator; every interpolated value is escaped (S35).
func say(_ line: TerminalLine) {
    Swift.print(line.description)
}

func printJSON<T: Encodable>(_ value: T) throws {
    Swift.print(TerminalText.safeJSON(String(decoding: try JSON.encodePretty(value), as: UTF8.self)))
}

func timestamp(_ time: UnixTime) -> String {
    UTCDay.iso8601(time)
}

// MARK: init

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create the data folder and its configuration.")

    @OptionGroup var folder: DataFolder
    @Option(help: "The public base URL of this server, e.g. https://auth.example.com.")
    var issuer: String
    @Option(help: "Google OAuth client id (enables \"Continue with Google\").")
    var googleClientID: String?
    @Option(help: "Google OAuth client secret.")
    var googleClientSecret: String?
    @Option(help: "Google authorization endpoint (default: Google's).")
    var googleAuthorizationURL: String?
    @Option(help: "Google token endpoint (default: Google's).")
    var googleTokenURL: String?
    @Option(help: "Google userinfo endpoint (default: Google's; no longer called).")
    var googleUserinfoURL: String?
    @Option(help: "The issuer Google's ID tokens name (default: https://accounts.google.com).")
    var googleIssuer: String?
    @Option(help: "Google's signing keys, a JWKS (default: Google's).")
    var googleJwksURL: String?
    @Flag(help: "Turn off sign-in with an emailed code.")
    var noEmailLogin = false
    @Option(help: "Write mail as .eml files into this folder (relative to the data folder unless absolute).")
    var mailFolder: String?
    @Option(help: "Send mail with this sendmail-compatible command, e.g. \"/usr/sbin/sendmail -t -i\".")
    var sendmail: String?
    @Option(help: "The From address of sign-in emails.")
    var mailFrom: String = "GPTAuth <no-reply@localhost>"
    @Option(help: "Access token lifetime in seconds (default 3600).")
    var accessTokenLifetime: Int64?
    @Option(help: "Refresh token inactivity lifetime in seconds (default 30 days).")
    var refreshTokenLifetime: Int64?
    @Option(help: "Authorization code lifetime in seconds (at most 600; default 120).")
    var codeLifetime: Int64?
    @Flag(help: "fsync every record (power-loss safe, slower).")
    var fsync = false
    @Option(help: "Keep users, codes, tokens and counts in this PostgreSQL database (postgres://… or postgresql:///db?host=/run/postgresql) instead of the data folder; its schema is created now.")
    var store: String?

    func validate() throws {
        if (googleClientID == nil) != (googleClientSecret == nil) {
            throw ValidationError("give both --google-client-id and --google-client-secret, or neither")
        }
        if mailFolder != nil && sendmail != nil { throw ValidationError("choose --mail-folder or --sendmail, not both") }
        if issuer.hasSuffix("/") {
            throw ValidationError("--issuer \(issuer) ends with a slash: give it without (\(issuer.dropLast())); every URL is built on it")
        }
    }

    func run() throws {
        let path = try folder.path()
        let configPath = path + "/config.json"
        guard !FileManager.default.fileExists(atPath: configPath) else {
            throw Failure("\(configPath) already exists: this folder is initialised (edit it, or use another folder)")
        }
        var google: GoogleSettings?
        if let id = googleClientID, let secret = googleClientSecret {
            var settings = GoogleSettings(clientID: id, clientSecret: secret)
            if let url = googleAuthorizationURL { settings.authorizationEndpoint = url }
            if let url = googleTokenURL { settings.tokenEndpoint = url }
            if let url = googleUserinfoURL { settings.userinfoEndpoint = url }
            settings.idTokenIssuer = googleIssuer
            settings.jwksEndpoint = googleJwksURL
            google = settings
        }
        let mail = sendmail.map { MailSettings(backend: "sendmail", command: $0.split(separator: " ").map(String.init), from: mailFrom) }
            ?? MailSettings(backend: "folder", folder: mailFolder ?? "mail", from: mailFrom)
        var configuration = Configuration(issuer: issuer, secretKey: Hex.encode(SystemRandom().bytes(32)), google: google,
                                          emailLogin: noEmailLogin ? nil : EmailLoginSettings(), mail: mail)
        // Options left out keep the configuration's own defaults (declared once, on Configuration).
        if let accessTokenLifetime { configuration.accessTokenLifetime = accessTokenLifetime }
        if let refreshTokenLifetime { configuration.refreshTokenLifetime = refreshTokenLifetime }
        if let codeLifetime { configuration.codeLifetime = codeLifetime }
        configuration.fsync = fsync
        configuration.store = store
        do {
            try configuration.validate()
        } catch {
            throw ValidationError(error.description)
        }
        // The database first: nothing is written here unless it is reachable and migrated.
        if let store {
            let versions = try migrateSchema(PostgresStore(url: store))
            say("Database ready (schema version \(versions.last ?? 0))")
        }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let created = try OperatorLock.holding(dataFolder: path) {
            try OperatorLock.writeConfiguration(configuration, dataFolder: path)
        }
        guard created else { throw Failure("\(configPath) already exists") }
        say("Initialised \(path) for \(configuration.issuer)")
        let providers = [google != nil ? "Google" : nil, noEmailLogin ? nil : "emailed code"].compactMap { $0 }.joined(separator: ", ")
        say("Sign-in: \(providers)")
        say("Next: gptauth client add --data \(path) --name \"My GPT\" --chatgpt")
        say("The console (\(configuration.baseURL)/admin/): open this link within 30 minutes to become its first owner:")
        say("  \(ConsoleSetup.link(configuration: configuration, now: SystemClock().now()))")
        say("(or: gptauth owner add --data \(path) you@example.com)")
    }
}

// MARK: client

struct ClientCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "client", abstract: "Register and manage GPTs (OAuth clients).",
        subcommands: [Add.self, List.self, Show.self, Change.self, Remove.self, RotateSecret.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a GPT and print its GPT-editor settings.")
        @OptionGroup var folder: DataFolder
        @Option(help: "The GPT's name, shown on the sign-in page.") var name: String
        @Option(name: .customLong("redirect-uri"), help: "An exact callback URL (repeatable).") var redirectURIs: [String] = []
        @Flag(help: "Accept ChatGPT's callback URLs for any GPT id (chat.openai.com and chatgpt.com).") var chatgpt = false
        @Flag(name: .customLong("one-user-per-mailbox"),
              help: "Count name+tag@ and Gmail's dotted spellings of one mailbox as one user (one quota).")
        var oneUserPerMailbox = false
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let service = try folder.service()
            let (client, secret) = try asOperator(service) { () throws -> (Client, String) in
                var (client, secret) = try ClientRegistration.register(name: name, redirectURIs: redirectURIs, chatGPTCallbacks: chatgpt,
                                                                       store: service.store, now: service.clock.now(), random: service.random)
                if oneUserPerMailbox {
                    client.oneUserPerMailbox = true
                    try service.store.saveClient(client)
                }
                return (client, secret)
            }
            audit(service, "client_added", ["client_id": client.id, "name": client.name])
            let settings = EditorSettings(client: client, secret: secret, configuration: service.configuration)
            if json { try printJSON(settings) } else { say(TerminalLine(composed: settings.text)) }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List registered GPTs.")
        @OptionGroup var folder: DataFolder
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let service = try folder.service()
            let clients = try service.store.clients()
            if json {
                try printJSON(clients.map { EditorSettings(client: $0, secret: nil, configuration: service.configuration) })
                return
            }
            if clients.isEmpty { say("No GPTs registered yet: gptauth client add --name \"My GPT\" --chatgpt") }
            for client in clients {
                say("\(client.id)  \(client.name)  (created \(timestamp(client.createdAt)))")
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a GPT's GPT-editor settings (without the secret).")
        @OptionGroup var folder: DataFolder
        @Argument(help: "The client id.") var id: String
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let service = try folder.service()
            guard let client = try service.store.client(id: id) else { throw Failure("no client with id \(id)") }
            let settings = EditorSettings(client: client, secret: nil, configuration: service.configuration)
            if json { try printJSON(settings) } else { say(TerminalLine(composed: settings.text)) }
        }
    }

    struct Change: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set", abstract: "Change a GPT's settings.")
        @OptionGroup var folder: DataFolder
        @Argument(help: "The client id.") var id: String
        @Option(name: .customLong("one-user-per-mailbox"),
                help: "on: name+tag@ and Gmail's dotted spellings of one mailbox are one user from the next sign-in on; off: every address is its own user.")
        var oneUserPerMailbox: Switch?
        @Option(help: "on: accept ChatGPT's callback URLs for any GPT id (chat.openai.com and chatgpt.com); off: only the exact ones.")
        var chatgpt: Switch?
        @Option(name: .customLong("add-redirect-uri"), help: "Accept this exact callback URL too (repeatable).")
        var adding: [String] = []
        @Option(name: .customLong("remove-redirect-uri"), help: "Stop accepting this exact callback URL (repeatable).")
        var removing: [String] = []

        enum Switch: String, ExpressibleByArgument { case on, off }

        func validate() throws {
            if oneUserPerMailbox == nil && chatgpt == nil && adding.isEmpty && removing.isEmpty {
                throw ValidationError("say what to change: --one-user-per-mailbox, --chatgpt, --add-redirect-uri or --remove-redirect-uri")
            }
        }

        func run() throws {
            let service = try folder.service()
            let client = try asOperator(service) { () throws -> Client in
                guard var client = try service.store.client(id: id) else { throw Failure("no client with id \(id)") }
                if let oneUserPerMailbox { client.oneUserPerMailbox = oneUserPerMailbox == .on ? true : nil }
                client = try ClientRegistration.changeCallbacks(client, chatGPTCallbacks: chatgpt.map { $0 == .on },
                                                                adding: adding, removing: removing)
                try service.store.saveClient(client)
                return client
            }
            audit(service, "client_changed", ["client_id": client.id, "one_user_per_mailbox": oneUserPerMailbox?.rawValue ?? "unchanged",
                                              "chatgpt_callbacks": client.allowChatGPTCallbacks ? "on" : "off",
                                              "redirect_uris": client.redirectURIs.joined(separator: " ")])
            var said: [String] = []
            if let oneUserPerMailbox { said.append("one user per mailbox \(oneUserPerMailbox.rawValue)") }
            if chatgpt != nil || !adding.isEmpty || !removing.isEmpty {
                let exact = client.redirectURIs.isEmpty ? "no exact callback URLs" : "exact callback URLs " + client.redirectURIs.joined(separator: ", ")
                said.append("ChatGPT's callbacks \(client.allowChatGPTCallbacks ? "on" : "off"), \(exact)")
            }
            say("\(client.name): \(said.joined(separator: "; ")).")
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a GPT; its users' tokens stop working at once.")
        @OptionGroup var folder: DataFolder
        @Argument(help: "The client id.") var id: String

        func run() throws {
            let service = try folder.service()
            let revoked = try asOperator(service) {
                try ClientRegistration.remove(clientID: id, store: service.store, now: service.clock.now())
            }
            audit(service, "client_removed", ["client_id": id, "revoked": String(revoked)])
            say("Removed \(id) and revoked \(revoked) active sign-in\(revoked == 1 ? "" : "s").")
        }
    }

    struct RotateSecret: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rotate-secret",
            abstract: "Make a new client secret; the old one stops working at once.")
        @OptionGroup var folder: DataFolder
        @Argument(help: "The client id.") var id: String
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let service = try folder.service()
            let (client, secret) = try asOperator(service) {
                try ClientRegistration.rotateSecret(clientID: id, store: service.store, now: service.clock.now(),
                                                    random: service.random)
            }
            audit(service, "secret_rotated", ["client_id": client.id])
            let settings = EditorSettings(client: client, secret: secret, configuration: service.configuration)
            if json { try printJSON(settings) } else { say(TerminalLine(composed: settings.text)) }
        }
    }
}

// MARK: users

struct UsersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "users", abstract: "Your GPTs' users: the email list and their usage.",
                                                    subcommands: [List.self, Export.self, Reindex.self])

    struct Options: ParsableArguments {
        @OptionGroup var folder: DataFolder
        @Option(help: "Only this GPT's users.") var client: String?
        @Flag(help: "CSV with a header row (opens in a spreadsheet).") var csv = false
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let service = try folder.service()
            if let client, try service.store.client(id: client) == nil { throw Failure("no client with id \(client)") }
            let rows = try UserExport.rows(try service.store.users(clientID: client), store: service.store, now: service.clock.now())
            if csv {
                Swift.print(UserExport.csv(rows, timestamp: timestamp), terminator: "")
            } else if json {
                try printJSON(rows.map { UserListing(row: $0) })
            } else {
                if rows.isEmpty { say("No users yet.") }
                for row in rows {
                    let user = row.user
                    let plan = user.plan ?? "default", blocked = user.blocked == true ? "  BLOCKED" : ""
                    let paying = user.billing.map { "  \($0.isPaying ? "paying" : "not paying") (\($0.status), \($0.customerID ?? "-"))" } ?? ""
                    say("\(user.email)  \(user.name.isEmpty ? "-" : user.name)  \(user.provider)  \(user.clientID)  "
                        + "plan \(plan)\(blocked)\(paying)  "
                        + "calls today \(row.usage?.dayCount ?? 0), this month \(row.usage?.monthCount ?? 0), total \(row.usage?.total ?? 0)  "
                        + "last seen \(timestamp(user.lastSeen))")
                }
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users (all GPTs, or one) with their usage.")
        @OptionGroup var options: Options
        func run() throws { try options.run() }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The same as list; with --csv, your email list for a spreadsheet.")
        @OptionGroup var options: Options
        func run() throws { try options.run() }
    }

    struct Reindex: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rebuild a GPT's users index (the console's users list) from the users' records.",
            discussion: "Only the file store keeps one. Needed only after a crash between a first sign-in and its index entry left a user out of the console's list.")
        @OptionGroup var folder: DataFolder
        @OptionGroup var gpt: ClientOption

        func run() throws {
            let service = try folder.service()
            let client = try gpt.existing(service)
            guard let files = service.store as? FileStore else { say("The database needs no index rebuilt."); return }
            let page = try asOperator(service) { () throws -> UsersPage in
                try files.forgetUserIndex(clientID: client.id)
                return try files.usersPage(clientID: client.id, offset: 0, limit: 0)
            }
            say("\(client.name): \(page.total) users indexed.")
        }
    }
}

/// A user as `users list --json` prints them.
struct UserListing: Encodable {
    var email: String
    var name: String
    var provider: String
    var client_id: String
    var first_seen: String
    var last_seen: String
    var plan: String?
    var blocked: Bool
    var calls_today: Int
    var calls_this_month: Int
    var calls_total: Int
    /// The payment state as Stripe last said (`active`, `past_due`, `canceled`, …), if ever paid.
    var payment: String?
    var paying: Bool
    var stripe_customer: String?

    init(row: UserExport.Row) {
        email = row.user.email
        name = row.user.name
        provider = row.user.provider
        client_id = row.user.clientID
        first_seen = timestamp(row.user.firstSeen)
        last_seen = timestamp(row.user.lastSeen)
        plan = row.user.plan
        blocked = row.user.blocked == true
        calls_today = row.usage?.dayCount ?? 0
        calls_this_month = row.usage?.monthCount ?? 0
        calls_total = row.usage?.total ?? 0
        payment = row.user.billing?.status
        paying = row.user.billing?.isPaying == true
        stripe_customer = row.user.billing?.customerID
    }
}

// MARK: migrate

/// Brings a PostgreSQL store's schema to this build's version; the applied versions, in order.
func migrateSchema(_ store: PostgresStore) throws -> [Int] {
    do {
        let applied = try store.migrate(now: UnixTime(Date().timeIntervalSince1970))
        return applied.isEmpty ? [try store.schemaVersion()] : applied
    } catch let error as StoreError {
        throw Failure(error.description)
    }
}

struct MigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Create or update the PostgreSQL store's tables (run after installing a new version).",
        discussion: "Safe to run again, and from several nodes at once: each migration is applied once. The file store needs none.")
    @OptionGroup var folder: DataFolder

    func run() throws {
        let service = try folder.service()
        guard let store = service.store as? PostgresStore else {
            say("This installation uses the file store in \(service.dataFolder): nothing to migrate.")
            return
        }
        let before = (try? store.schemaVersion()) ?? 0
        let after = try migrateSchema(store).last ?? before
        say(after == before ? "The schema is up to date (version \(after))." : "Migrated the schema from version \(before) to \(after).")
    }
}

// MARK: store copy

struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "store", abstract: "Move an installation between store engines; the file store's change stamps.",
                                                    subcommands: [Copy.self, Stamps.self])

    struct Stamps: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show (or clear) the file store's change stamps left showing a change in progress.",
            discussion: """
            Each endpoint process keeps the records protected calls read, and drops a copy when its change stamp \
            moves (docs/store.md). A process killed in the middle of a change leaves that stamp showing a change \
            in progress: the records under it are then read from their files on every call (slower, never stale). \
            --reset clears them; run it with the endpoints stopped (deploy/stack down) or right after a crash.
            """)
        @OptionGroup var folder: DataFolder
        @Flag(help: "Clear the changes in progress and make every process drop what it kept.") var reset = false

        func run() throws {
            let service = try folder.service()
            guard let files = service.store as? FileStore else { say("The database keeps no change stamps."); return }
            do {
                if reset {
                    let cleared = try asOperator(service) { try files.resetChangeStamps() }
                    say("Cleared \(cleared) of \(FileStore.changeStampCount) stamps; every process reads its records afresh.")
                } else {
                    let stuck = try files.changesInProgress()
                    say("\(stuck) of \(FileStore.changeStampCount) stamps show a change in progress\(stuck > 0 ? " (if no change is running, clear them with --reset)" : "").")
                }
            } catch let error as StoreError {
                throw Failure(error.description)
            }
        }
    }

    struct Copy: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy everything from a data folder's file store into PostgreSQL, and check the counts.",
            discussion: """
            Copies GPTs, plans, users, usage counters with their history, token families, live tokens, live codes, \
            pending sign-ins and the audit trail (only forward: safe to run again, e.g. once more just before \
            switching). Migrates the database first. Then set "store" in every node's config.json and restart the pools (README: "Several nodes").
            """)
        @Option(help: "The source: file:<data folder>.") var from: String
        @Option(help: "The PostgreSQL database: postgres://… or postgresql:///db?host=/run/postgresql.") var to: String

        func validate() throws {
            guard from.hasPrefix("file:"), from.count > 5 else { throw ValidationError("--from must be file:<data folder>") }
            guard PostgresStore.handles(to) else { throw ValidationError("--to must be a postgres:// or postgresql:// URL") }
        }

        func run() throws {
            let folder = String(from.dropFirst(5))
            let source = FileStore(folder: folder)
            let target = PostgresStore(url: to)
            let trail = PostgresAuditTrail(url: to)
            do {
                _ = try migrateSchema(target)
                let snapshot = try source.snapshot(now: UnixTime(Date().timeIntervalSince1970))
                try target.importSnapshot(snapshot)
                let audit = AuditFolder(dataFolder: folder).events(since: UTCDay(0))
                try trail.importEvents(audit)
                let copied = try target.counts(of: snapshot) + [("audit events", try trail.copiedCount(audit))]
                var mismatches = 0
                for (expected, found) in zip(snapshot.counts + [("audit events", audit.count)], copied) {
                    let ok = expected.count == found.count
                    if !ok { mismatches += 1 }
                    say("\(expected.kind): \(expected.count) in the folder, \(found.count) in the database\(ok ? "" : "  MISMATCH")")
                }
                guard mismatches == 0 else { throw Failure("\(mismatches) kinds of record did not arrive whole; nothing is switched over") }
                say("Copied and checked. Next: set \"store\" in every node's config.json to this URL and restart the pools.")
            } catch let error as StoreError {
                throw Failure(error.description)
            }
        }
    }
}

// MARK: sweep

struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Delete expired records, and audit days and mail files past retention, now (for cron).",
        discussion: "The endpoints do this a slice at a time after their answers; run it from cron to keep that work off the request path entirely.")
    @OptionGroup var folder: DataFolder

    func run() throws {
        let service = try folder.service()
        let log = Log(component: "gptauth", echo: false)
        let more = Housekeeping(service: service, log: log).run(budget: .unbounded)
        say(more ? "Swept; more is due (run it again)." : "Swept: nothing expired is left.")
    }
}
