#if canImport(Glibc)
import Glibc
#endif

/// A message to one person.
public struct MailMessage: Sendable, Equatable {
    public var to: String
    public var subject: String
    public var text: String

    public init(to: String, subject: String, text: String) {
        self.to = to
        self.subject = subject
        self.text = text
    }

    /// RFC 5322 text. Header values are cleaned of line breaks (header injection).
    func rendered(from: String, date: UnixTime, messageID: String) -> String {
        let clean = HeaderText.singleLine
        return """
        From: \(clean(from))\r
        To: \(clean(to))\r
        Subject: \(clean(subject))\r
        Message-ID: <\(messageID)>\r
        X-GPTAuth-Date: \(date)\r
        MIME-Version: 1.0\r
        Content-Type: text/plain; charset=utf-8\r
        Content-Transfer-Encoding: 8bit\r
        \r
        \(text.replacing("\n", with: "\r\n"))\r

        """
    }
}

/// Where mail goes: a folder of `.eml` files (local runs and tests) or a sendmail-compatible command.
public struct Mailer: Sendable {
    public let settings: MailSettings
    public let dataFolder: String

    public init(settings: MailSettings, dataFolder: String) {
        self.settings = settings
        self.dataFolder = dataFolder
    }

    public func send(_ message: MailMessage, now: UnixTime, random: RandomSource) throws(MailError) {
        let id = Hex.encode(random.bytes(12))
        let text = message.rendered(from: settings.from, date: now, messageID: "\(id)@gptauth")
        switch settings.backend {
        case "folder":
            let folder = Mailer.folder(settings, dataFolder: dataFolder)
            do {
                // Temporary file + rename: a reader of the folder never sees half a message.
                try FileIO.writeAtomically("\(folder)/\(now)-\(id).eml", Array(text.utf8), sync: false)
            } catch {
                throw .failed("cannot write to the mail folder \(folder): \(error)")
            }
        case "sendmail":
            try sendmail(text, command: settings.command ?? ["/usr/sbin/sendmail", "-t", "-i"])
        default:
            throw .failed("unknown mail backend \(settings.backend)")
        }
    }

    /// The `folder` backend's folder: `settings.folder`, relative to the data folder unless absolute.
    public static func folder(_ settings: MailSettings, dataFolder: String) -> String {
        let configured = settings.folder ?? "mail"
        return configured.hasPrefix("/") ? configured : "\(dataFolder)/\(configured)"
    }

    /// Pipes the message to the command (`sendmail -t` reads recipients from the headers). Its
    /// output is captured, never mixed into a CGI answer.
    private func sendmail(_ text: String, command: [String]) throws(MailError) {
        guard let program = command.first else { throw .failed("the sendmail command is empty") }
        let ran: ChildProcess.Outcome
        do {
            ran = try ChildProcess.run(program, Array(command.dropFirst()), input: Array(text.utf8), outputLimit: 4096)
        } catch {
            throw .failed(error.description)
        }
        guard ran.tookInput, ran.status == 0 else {
            throw .failed("\(program) failed with status \(ran.status)\(ran.errorLine.isEmpty ? "" : ": \(ran.errorLine)")")
        }
    }
}

public enum MailError: Error, Sendable, CustomStringConvertible {
    case failed(String)
    public var description: String {
        switch self { case .failed(let m): return m }
    }
}
