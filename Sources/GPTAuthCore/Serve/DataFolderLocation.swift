#if canImport(Glibc)
import Glibc
#endif

/// Where an endpoint finds its data folder, and what to say when it cannot use it.
///
/// `GPTAUTH_DATA` in the environment (the pools, nginx's `fastcgi_param`), or else the file
/// `.gptauth-data` beside the executable, holding the folder's path on its first line. The file is
/// for shared hosting: Apache's suexec passes a CGI program only a fixed list of variables, so a
/// `SetEnv GPTAUTH_DATA` never reaches it.
public enum DataFolderLocation {
    /// The name of the file beside the programs that names the data folder.
    public static let pointerName = ".gptauth-data"
    /// A pointer file is one path: anything longer is not one.
    static let maximumPointerSize = 4096

    /// The data folder: `environment` (GPTAUTH_DATA) when set, else the pointer file beside `executable`.
    public static func find(environment: String?, executable: String?) -> String? {
        if let environment, !environment.isEmpty { return environment }
        guard let executable else { return nil }
        return pointer(besides: executable)
    }

    /// The folder named by `.gptauth-data` beside `executable`; nil when there is none (or it is empty).
    public static func pointer(besides executable: String) -> String? {
        firstLine(of: "\(FileIO.parent(of: executable))/\(pointerName)")
    }

    /// The first line of the file `name` beside this program (`gptauth hosting install` writes the
    /// greeting API's GPT there too); nil when there is none.
    public static func setting(_ name: String) -> String? {
        currentExecutable().flatMap { firstLine(of: "\(FileIO.parent(of: $0))/\(name)") }
    }

    /// A one-line file's line, trimmed; nil when missing, empty or larger than a path can be.
    static func firstLine(of path: String) -> String? {
        guard let bytes = try? FileIO.read(path, limit: maximumPointerSize) else { return nil }
        let first = String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline).first ?? ""
        let line = first.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" || $0 == "\r" }.reversed()
        return line.isEmpty ? nil : String(line)
    }

    /// This process's executable (`/proc/self/exe`), with symbolic links resolved.
    public static func currentExecutable() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { return nil }
        return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Why `config.json` in `dataFolder` cannot be read, in the words an operator acts on: a folder
    /// that does not exist, one this user cannot enter, a file that is missing, or one that exists
    /// but this user cannot read (the common mistake on shared hosting, where the web server runs
    /// the programs as another user than the one who ran `gptauth init`).
    public static func explainUnreadableConfiguration(dataFolder: String) -> String {
        let path = "\(dataFolder)/config.json"
        let user = currentUser()
        var status = stat()
        if stat(dataFolder, &status) != 0 {
            if errno == ENOENT || errno == ENOTDIR {
                return "the data folder \(dataFolder) does not exist; run `gptauth init --data \(dataFolder)` first"
            }
            return "the data folder \(dataFolder) cannot be reached by user \(user): \(FileIO.errorText()) (a folder above it is closed to that user)"
        }
        if access(dataFolder, X_OK) != 0 {
            return "the data folder \(dataFolder) exists but user \(user) cannot enter it: give that user access, or run the endpoints as the user who ran `gptauth init`"
        }
        if access(path, F_OK) != 0 {
            return "no configuration at \(path); run `gptauth init` first"
        }
        if access(path, R_OK) != 0 {
            return "\(path) exists but user \(user) cannot read it: run the endpoints as the user who ran `gptauth init`, or give that user read access"
        }
        return "cannot read \(path) as user \(user)"
    }

    /// `name (uid N)` of the effective user. Read from /etc/passwd, not getpwuid(3): the static
    /// release endpoints cannot load glibc's NSS modules.
    static func currentUser() -> String {
        let uid = geteuid()
        let passwd = FileIO.readAll("/etc/passwd").map { String(decoding: $0, as: UTF8.self) } ?? ""
        for line in passwd.split(separator: "\n") {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            if fields.count > 2, UInt32(fields[2]) == uid { return "\(fields[0]) (uid \(uid))" }
        }
        return "uid \(uid)"
    }
}
