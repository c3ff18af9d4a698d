import CFastCGI
#if canImport(Glibc)
import Glibc
#endif

/// The serve loop every endpoint executable runs. Started by a FastCGI spawner (spawn-fcgi,
/// systemd: a listening socket on fd 0) it answers requests until SIGTERM; started any other way
/// it answers the one request of a plain CGI invocation from the environment and stdin.
public enum FastCGIServer {
    /// Serves `handler` until the spawner stops the process. The handler never throws: the
    /// endpoint turns every error into a response (see `Endpoint.response(to:)`).
    /// `after` runs once each response has been handed back (clean-up that must not delay it).
    /// `pool`: where a worker of a supervised pool records itself (`WorkerRoster`); nil: no record.
    public static func serve(_ handler: (Request) -> Response, after: () -> Void = {}, pool: WorkerRoster? = nil) {
        // A peer that goes away (nginx dropping a slow client, a sendmail that exits early) must
        // make a write fail, not kill the process.
        signal(SIGPIPE, SIG_IGN)
        // A socket passed the systemd way (LISTEN_FDS) is served like one from spawn-fcgi.
        if let refused = SocketActivation.adoptPassedSocket() {
            Log(component: pool?.component ?? "serve").error("socket_activation_refused", ["reason": refused])
            exit(1)
        }
        guard FCGX_Init() == 0 else {
            Log(component: "serve").error("fastcgi_init_failed")
            exit(1)
        }
        if FCGX_IsCGI() != 0 {
            serveCGI(handler)
            // The CGI host sees the end of the response when stdout closes; then the clean-up.
            close(1)
            after()
            return
        }
        // SIGTERM (spawn-fcgi, systemd) and SIGUSR1 (multiwatch's stop signal: see deploy/lib/pools.sh)
        // stop the process between requests: the handler only tells libfcgi to stop accepting, and
        // the signals stay blocked while a request is served so no read or write of that request is
        // interrupted.
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in FCGX_ShutdownPending() }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0  // no SA_RESTART: a waiting accept(2) returns EINTR and the loop ends
        var terminate = sigset_t()
        sigemptyset(&terminate)
        for stop in [SIGTERM, SIGUSR1] {
            sigaction(stop, &action, nil)
            sigaddset(&terminate, stop)
        }

        // A supervised worker reports the workers that died before it, records itself, and in a
        // crash loop waits before serving (a SIGTERM cuts the wait short).
        let membership = pool?.join()
        if let membership {
            WorkerRoster.reportFatalSignals(membership)
            if membership.delay > 0 { sleep(UInt32(membership.delay)) }
        }
        defer { membership?.leave() }

        // The request is a local of this function, not a global (Swift 6 isolation; see the notes).
        var request = FCGX_Request()
        FCGX_InitRequest(&request, 0, FCGI_FAIL_ACCEPT_ON_INTR)
        while FCGX_Accept_r(&request) >= 0 {
            pthread_sigmask(SIG_BLOCK, &terminate, nil)
            defer { pthread_sigmask(SIG_UNBLOCK, &terminate, nil) }
            let params = parameters(request.envp)
            let body = readBody(declared: params["CONTENT_LENGTH"]) { buffer, count in
                Int(FCGX_GetStr(buffer, Int32(count), request.in))
            }
            let response: Response
            switch body {
            case .some(let bytes): response = handler(Request(params: params, body: bytes))
            case .none: response = ErrorResponse.tooLarge(params: params)
            }
            let bytes = response.serialized()
            bytes.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { chars in
                    _ = FCGX_PutStr(chars.baseAddress, Int32(chars.count), request.out)
                }
            }
            // Every request is finished whatever happened (fcgiwrap's rule).
            FCGX_Finish_r(&request)
            after()
        }
    }

    /// Plain CGI (RFC 3875): meta-variables from the environment, body from stdin, answer on stdout.
    private static func serveCGI(_ handler: (Request) -> Response) {
        let params = parameters(environ)
        let body = readBody(declared: params["CONTENT_LENGTH"]) { buffer, count in
            read(0, buffer, count)
        }
        let response: Response
        switch body {
        case .some(let bytes): response = handler(Request(params: params, body: bytes))
        case .none: response = ErrorResponse.tooLarge(params: params)
        }
        var bytes = response.serialized()
        var offset = 0
        bytes.withUnsafeMutableBytes { buffer in
            while offset < buffer.count {
                let written = write(1, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 { break }
                offset += written
            }
        }
    }

    /// `KEY=value` strings into a dictionary.
    static func parameters(_ envp: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> [String: String] {
        var params: [String: String] = [:]
        guard var cursor = envp else { return params }
        while let entry = cursor.pointee {
            // NAME=value: split on the raw bytes, then make each half a String once (invalid UTF-8
            // is repaired, as String(cString:) would).
            if let equals = strchr(entry, 0x3D) {
                let nameLength = entry.distance(to: equals)
                let name = UnsafeRawBufferPointer(start: entry, count: nameLength)
                let value = UnsafeRawBufferPointer(start: equals + 1, count: strlen(equals + 1))
                params[String(decoding: name, as: UTF8.self)] = String(decoding: value, as: UTF8.self)
            }
            cursor += 1
        }
        return params
    }

    /// Reads `CONTENT_LENGTH` bytes; nil when the declared length is over `Limits.body` (→ 413).
    static func readBody(declared: String?, _ read: (UnsafeMutablePointer<CChar>, Int) -> Int) -> [UInt8]? {
        guard let declared, let length = Int(declared), length > 0 else { return [] }
        guard length <= Limits.body else { return nil }
        var body = [UInt8](repeating: 0, count: length)
        var filled = 0
        body.withUnsafeMutableBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                while filled < length {
                    let got = read(chars.baseAddress! + filled, length - filled)
                    if got <= 0 { break }
                    filled += got
                }
            }
        }
        return Array(body[0..<filled])
    }
}
