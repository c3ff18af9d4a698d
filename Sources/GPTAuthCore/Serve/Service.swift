#if canImport(Glibc)
import Glibc
#endif

/// What every endpoint runs with: configuration, store, clock and randomness, loaded once per
/// process. Tests build one directly with an injected clock and random source.
public struct Service: Sendable {
    public let configuration: Configuration
    public let store: AuthStore
    public let clock: Clock
    public let random: RandomSource
    public let dataFolder: String
    /// `configuration.trustedProxies`, parsed once per process.
    public let trustedProxies: [AddressRange]
    /// `configuration.basePath`, parsed once per process (every request's route is read under it).
    public let basePath: String
    /// Where the endpoints' log files go (`GPTAUTH_LOG`); nil: `dailyLogFolder`, else standard error (S43).
    public let logFolder: String?
    /// `<data>/logs` when `GPTAUTH_LOG` is not set (`Service.load`): one file a day for all endpoints.
    public let dailyLogFolder: String?
    /// Where audit events are kept (by default `audit/` in the data folder).
    public let auditTrail: any AuditTrail
    /// How sign-in mail leaves (`configuration.mail`).
    public let mailer: Mailer

    public init(configuration: Configuration, store: AuthStore, clock: Clock = SystemClock(),
                random: RandomSource = SystemRandom(), dataFolder: String, logFolder: String? = Log.environmentFolder,
                dailyLogFolder: String? = nil, auditTrail: (any AuditTrail)? = nil) {
        self.configuration = configuration
        self.auditTrail = auditTrail ?? AuditFolder(dataFolder: dataFolder)
        self.mailer = Mailer(settings: configuration.mail, dataFolder: dataFolder)
        self.logFolder = logFolder
        self.dailyLogFolder = logFolder == nil ? dailyLogFolder : nil
        self.trustedProxies = configuration.trustedProxyRanges
        self.basePath = configuration.basePath
        self.store = store
        self.clock = clock
        self.random = random
        self.dataFolder = dataFolder
    }

    /// The log of one component: lines to `logFolder`, audit events to the data folder's trail.
    public func log(_ component: String) -> Log {
        Log(component: component, auditTrail: auditTrail, folder: logFolder, dailyFolder: dailyLogFolder, clock: clock)
    }

    /// The network `request` comes from: the key of every per-address limit (S36).
    public func network(_ request: Request) -> String {
        ClientNetwork.key(request, trustedProxies: trustedProxies)
    }

    /// The data folder named by `GPTAUTH_DATA` (the process's environment) or by the
    /// `.gptauth-data` file beside the program (`DataFolderLocation`).
    public static func load(dataFolder: String?) throws(ConfigurationError) -> Service {
        guard let dataFolder, !dataFolder.isEmpty else {
            throw .missing("GPTAUTH_DATA is not set and there is no \(DataFolderLocation.pointerName) file beside the program: "
                           + "start the endpoint with GPTAUTH_DATA=/path/to/data, or put the data folder's path in that file")
        }
        let configuration = try Configuration.load(dataFolder: dataFolder)
        // The engine `configuration.store` names: PostgreSQL for a database URL (with the audit
        // trail there too, one for every node), else the file store in the data folder.
        // Without GPTAUTH_LOG the lines go to the data folder, where a hosting account can read them.
        let dailyLogs = "\(dataFolder)/logs"
        if let url = configuration.store, PostgresStore.handles(url) {
            return Service(configuration: configuration, store: PostgresStore(url: url), dataFolder: dataFolder,
                           dailyLogFolder: dailyLogs, auditTrail: PostgresAuditTrail(url: url))
        }
        return Service(configuration: configuration, store: FileStore(folder: dataFolder, sync: configuration.fsync),
                       dataFolder: dataFolder, dailyLogFolder: dailyLogs)
    }

    /// Runs an endpoint executable: loads the service once, then serves requests with the endpoint
    /// `make` builds. If the data folder is unusable, every request gets a clear 503 (and the log
    /// says why) instead of the process crashing in a restart loop.
    public static func run<E: Endpoint>(_ make: (Service) -> E) {
        let log = Log(component: E.component)
        let pool = Log.environmentFolder.map { WorkerRoster(component: E.component, logFolder: $0) }
        let dataFolder = DataFolderLocation.find(environment: getenv("GPTAUTH_DATA").map { String(cString: $0) },
                                                 executable: DataFolderLocation.currentExecutable())
        switch Result(catching: { () throws(ConfigurationError) -> Service in try load(dataFolder: dataFolder) }) {
        case .success(let service):
            let endpoint = make(service)
            FastCGIServer.serve({ request in endpoint.response(to: request) }, after: endpoint.afterResponse, pool: pool)
        case .failure(let error):
            log.error("not_configured", ["reason": error.description])
            FastCGIServer.serve({ _ in
                HTTPError.unavailable("This service is not configured yet. The reason is in \(log.whereLinesGo).").response(E.errorStyle)
            }, pool: pool)
        }
    }
}
