#if canImport(Glibc)
import Glibc
#endif

/// `gptauth hosting install`: puts the endpoint programs where a hosting account's Apache runs CGI
/// and maps every path to them, with nothing but files the account may write (no `ScriptAlias`,
/// no environment variables: suexec drops them, and `.htaccess` cannot set a script alias).
///
/// - `<docroot>/gptauth-bin/`: the six endpoint programs, `.gptauth-data` (the data folder's
///   path, read at start: `DataFolderLocation`), `.gptauth-client-id` (the GPT the sample greeting
///   API serves), and an `.htaccess` of ours that runs the programs as CGI, passes `Authorization`
///   to them (`CGIPassAuth`) and refuses the dot files to the web.
/// Under an issuer with a path (`https://host/gpt-auth`) all of this goes to `<docroot>/gpt-auth/`.
///
/// - `<docroot>/.htaccess`: our rewrite rules between `# BEGIN GPTAuth` and `# END GPTAuth`, placed
///   first; the account's own lines stay as they are. Run again, the block is replaced. An
///   `.htaccess` without our block is left alone unless `force`. Under a sub-path, the site root's
///   `.htaccess` gets one such block too (RFC 8414's root form of the metadata address), or a note
///   saying what to add when it is the account's own.
public enum HostingInstall {
    /// The endpoints a hosting account serves (the `check` gate is nginx's `auth_request`, which
    /// Apache has not).
    public static let programs = ["authorize", "login", "verify-token", "greeting", "billing", "admin"]
    public static let programFolder = "gptauth-bin"
    public static let clientIDName = ".gptauth-client-id"
    static let begin = "# BEGIN GPTAuth (written by `gptauth hosting install`, which rewrites everything up to END GPTAuth)"
    static let end = "# END GPTAuth"

    /// The docroot's rules: every path of the protocol to the program that serves it. `[END]`
    /// keeps the program folder's own rules out of it. For Apache before 2.4.13 (no `CGIPassAuth`)
    /// the first rule hands `Authorization` over as an environment variable.
    public static func rewriteBlock() -> String {
        """
        \(begin)
        <IfModule mod_rewrite.c>
        RewriteEngine On
        RewriteCond %{HTTP:Authorization} .
        RewriteRule ^ - [E=HTTP_AUTHORIZATION:%{HTTP:Authorization}]
        RewriteRule ^\\.well-known/oauth-authorization-server$ \(programFolder)/authorize [END]
        RewriteRule ^\\.well-known/oauth-protected-resource(/.*)?$ \(programFolder)/authorize [END]
        RewriteRule ^oauth/authorize$ \(programFolder)/authorize [END]
        RewriteRule ^oauth/login(/.*)?$ \(programFolder)/login [END]
        RewriteRule ^oauth/(token|revoke|introspect|register)$ \(programFolder)/verify-token [END]
        RewriteRule ^api/greeting$ \(programFolder)/greeting [END]
        RewriteRule ^billing/(upgrade|stripe/webhook)$ \(programFolder)/billing [END]
        RewriteRule ^admin(/.*)?$ \(programFolder)/admin [END]
        </IfModule>
        \(end)

        """
    }

    /// Under an issuer with a path, the site root's rule for RFC 8414's root form of the metadata
    /// address (`/.well-known/oauth-authorization-server/gpt-auth`), which clients that discover
    /// the server (MCP's) read; the authorize program answers it.
    public static func rootMetadataBlock(basePath: String) -> String {
        let pattern = basePath.dropFirst().map { "^$.|?*+()[]{}\\".contains($0) ? "\\\($0)" : String($0) }.joined()
        return """
        \(begin)
        <IfModule mod_rewrite.c>
        RewriteEngine On
        RewriteRule ^\\.well-known/oauth-authorization-server/\(pattern)$ \(basePath.dropFirst())/\(programFolder)/authorize [END]
        </IfModule>
        \(end)

        """
    }

    /// The program folder's `.htaccess` (all ours).
    public static func programFolderRules() -> String {
        """
        # Written by `gptauth hosting install` (it rewrites this file): the GPTAuth programs run as CGI.
        Options +ExecCGI -Indexes
        SetHandler cgi-script
        <IfModule mod_version.c>
        <IfVersion >= 2.4.13>
        CGIPassAuth On
        </IfVersion>
        </IfModule>
        <Files ".gptauth-*">
        Require all denied
        </Files>

        """
    }

    /// What becomes of an `.htaccess` that holds `existing` (nil: there is none).
    public enum Merge: Equatable, Sendable {
        case write(String)
        case refuse(String)
    }

    /// The decision: no file → our block; our block present → replaced in place; the account's
    /// own file → left alone, unless `force`, which puts our block first and keeps every line.
    public static func merged(existing: String?, block: String, force: Bool) -> Merge {
        guard let existing, !existing.isEmpty else { return .write(block) }
        let lines = existing.split(separator: "\n", omittingEmptySubsequences: false)
        if let first = lines.firstIndex(where: { $0.hasPrefix("# BEGIN GPTAuth") }) {
            guard let last = lines[first...].firstIndex(where: { $0 == end }) else {
                return .refuse("it has a `# BEGIN GPTAuth` line without `\(end)`: mend or remove the block by hand")
            }
            let before = lines[..<first].joined(separator: "\n")
            let after = lines[(last + 1)...].joined(separator: "\n")
            return .write((before.isEmpty ? "" : before + "\n") + block + (after.hasPrefix("\n") ? String(after.dropFirst()) : after))
        }
        guard force else {
            return .refuse("it was not written by gptauth; run again with --force to put GPTAuth's rules first and keep its lines")
        }
        return .write(block + existing)
    }

    /// What an install did, for the command to print.
    public struct Report: Sendable {
        public var programFolder: String
        public var htaccess: String
        public var dataFolder: String
        /// What was left to the account, in words (a rule for a site-root `.htaccess` it did not write).
        public var notes: [String] = []
    }

    /// Copies the programs from `binaries` and writes the files above. Everything is checked before
    /// the first write, and each file is written whole (temporary name, then rename), so a refusal
    /// leaves nothing behind and a second run replaces what the first wrote.
    /// `basePath`: the issuer's path (`/gpt-auth` for `https://host/gpt-auth`); the files then go
    /// to `<docroot>/gpt-auth/`, whose `.htaccess` rules Apache applies to paths under it.
    public static func install(binaries: String, docroot: String, dataFolder: String, clientID: String?,
                               basePath requested: String? = nil, force: Bool) throws(HostingError) -> Report {
        var status = stat()
        guard stat(docroot, &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR else {
            throw .refused("--docroot \(docroot) is not a folder (the folder your web server serves, e.g. ~/public_html)")
        }
        guard access(docroot, W_OK) == 0 else { throw .refused("--docroot \(docroot) is not writable by this user") }
        guard dataFolder.hasPrefix("/") else { throw .refused("--data must be an absolute path (the programs read it from any folder)") }
        let configuration: Configuration
        do {
            configuration = try Configuration.load(dataFolder: dataFolder)
        } catch {
            throw .refused("--data \(dataFolder): \(error.description)")
        }
        // The data folder holds the secret key and every token's record: never under the web folder.
        if let data = realpath(dataFolder, nil), let root = realpath(docroot, nil) {
            defer { free(data); free(root) }
            let (dataPath, rootPath) = (String(cString: data), String(cString: root))
            if dataPath == rootPath || dataPath.hasPrefix(rootPath + "/") {
                throw .refused("--data \(dataFolder) is inside the web folder \(docroot): keep it outside, where no URL reaches it")
            }
        }
        let basePath = configuration.basePath
        if let requested, requested != basePath {
            throw .refused("--base-path \(requested) is not the issuer's path (\(configuration.issuer) is served under \"\(basePath)\"): "
                           + "they must be the same, or leave --base-path out")
        }
        let site = docroot + basePath
        if !basePath.isEmpty, FileIO.exists(site), stat(site, &status) == 0, (status.st_mode & S_IFMT) != S_IFDIR {
            throw .refused("\(site) exists and is not a folder")
        }
        if let clientID, !clientID.hasPrefix("gptc_") || clientID.contains(where: { $0.isWhitespace }) {
            throw .refused("--client \(clientID) is not a GPT's client id (gptc_…; see gptauth client list)")
        }
        for program in programs where access("\(binaries)/\(program)", X_OK) != 0 {
            throw .refused("no program \(binaries)/\(program): run the gptauth that came with the other programs (its bin/ folder)")
        }
        let folder = "\(site)/\(programFolder)"
        let htaccess = "\(site)/.htaccess"
        let ours = "\(folder)/.htaccess"
        let docrootRules: String
        switch merged(existing: FileIO.readAll(htaccess).map { String(decoding: $0, as: UTF8.self) }, block: rewriteBlock(), force: force) {
        case .write(let text): docrootRules = text
        case .refuse(let reason): throw .refused("\(htaccess): \(reason)")
        }
        // Under a sub-path, the site root's .htaccess gets one rule (RFC 8414's root form) when it
        // is ours to write; an .htaccess of the account's is not refused for it, only noted.
        var notes: [String] = []
        var rootRules: String?
        if !basePath.isEmpty {
            let block = rootMetadataBlock(basePath: basePath)
            switch merged(existing: FileIO.readAll(docroot + "/.htaccess").map { String(decoding: $0, as: UTF8.self) }, block: block, force: force) {
            case .write(let text): rootRules = text
            case .refuse:
                let rule = block.split(separator: "\n").first { $0.hasPrefix("RewriteRule") } ?? ""
                notes.append("\(docroot)/.htaccess is yours, so it was left alone: for clients that read RFC 8414's root form of the "
                             + "metadata address (MCP's), add `RewriteEngine On` and `\(rule)` to it, or run again with --force")
            }
        }
        if let existing = FileIO.readAll(ours), !String(decoding: existing, as: UTF8.self).hasPrefix("# Written by `gptauth hosting install`"), !force {
            throw .refused("\(ours) was not written by gptauth; run again with --force to replace it")
        }

        do {
            // The site's folders below the docroot (`/apps/gpt-auth` is two), then the program folder: 0755.
            var path = docroot
            for segment in (basePath + "/" + programFolder).split(separator: "/") {
                path += "/\(segment)"
                if mkdir(path, 0o755) != 0 && errno != EEXIST { throw StoreError.io("cannot create \(path): \(FileIO.errorText())") }
            }
            for program in programs { try copyProgram("\(binaries)/\(program)", to: "\(folder)/\(program)") }
            try write("\(folder)/\(DataFolderLocation.pointerName)", Array("\(dataFolder)\n".utf8), mode: 0o644)
            if let clientID { try write("\(folder)/\(clientIDName)", Array("\(clientID)\n".utf8), mode: 0o644) }
            try write(ours, Array(programFolderRules().utf8), mode: 0o644)
            try write(htaccess, Array(docrootRules.utf8), mode: 0o644)
            if let rootRules { try write(docroot + "/.htaccess", Array(rootRules.utf8), mode: 0o644) }
        } catch {
            throw .failed(String(describing: error))
        }
        return Report(programFolder: folder, htaccess: htaccess, dataFolder: dataFolder, notes: notes)
    }

    /// Copies a program (tens of MB: streamed, not read whole), 0755: suexec refuses a program
    /// others may write.
    static func copyProgram(_ source: String, to target: String) throws(StoreError) {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw .io("cannot read \(source): \(FileIO.errorText())") }
        defer { close(input) }
        try writeWhole(target, mode: 0o755) { output, temporary throws(StoreError) in
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let got = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
                if got == 0 { return }
                if got < 0 {
                    if errno == EINTR { continue }
                    throw .io("cannot read \(source): \(FileIO.errorText())")
                }
                try FileIO.writeAll(output, Array(buffer[0..<got]), path: temporary)
            }
        }
    }

    /// A whole small file with `mode`.
    static func write(_ path: String, _ bytes: [UInt8], mode: mode_t) throws(StoreError) {
        try writeWhole(path, mode: mode) { output, temporary throws(StoreError) in try FileIO.writeAll(output, bytes, path: temporary) }
    }

    /// Writes `target` whole: `fill` writes a temporary file beside it, which gets `mode` and is
    /// then renamed over `target` — so Apache never reads a file half written or, for a moment,
    /// without its mode (a 0600 `.htaccess` is a 403 for the site).
    static func writeWhole(_ target: String, mode: mode_t,
                           _ fill: (Int32, String) throws(StoreError) -> Void) throws(StoreError) {
        let temporary = "\(FileIO.parent(of: target))/.\(target.split(separator: "/").last ?? "file").new"
        let output = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard output >= 0 else { throw .io("cannot write \(temporary): \(FileIO.errorText())") }
        do throws(StoreError) {
            defer { close(output) }
            try fill(output, temporary)
            guard fchmod(output, mode) == 0 else { throw .io("cannot set the mode of \(temporary): \(FileIO.errorText())") }
        } catch {
            unlink(temporary)
            throw error
        }
        guard rename(temporary, target) == 0 else {
            let reason = FileIO.errorText()
            unlink(temporary)
            throw .io("cannot rename \(temporary): \(reason)")
        }
    }
}

/// Why `gptauth hosting install` did not install (nothing was written) or stopped.
public enum HostingError: Error, CustomStringConvertible, Sendable {
    case refused(String)
    case failed(String)

    public var description: String {
        switch self {
        case .refused(let reason): return reason
        case .failed(let reason): return "the install stopped half-way: \(reason); run it again"
        }
    }
}
