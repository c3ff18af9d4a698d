import ArgumentParser
import Foundation
import GPTAuthCore
import GPTAuthNetworking

/// `gptauth doctor URL`: checks a deployment from outside, as ChatGPT will use it (DeploymentDoctor).
struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor", abstract: "Check a deployment from outside, the way ChatGPT will use it, and say what is wrong.",
        discussion: """
        Checks the metadata document, https and the certificate, ChatGPT's same-host rule, the token endpoint's \
        RFC 6749 errors for both token exchange methods, that Authorization reaches the API and the token endpoint, \
        and the API's 401 for a bogus token. With --client: ChatGPT's callback URLs and Google's redirect URI. With \
        --secret and --email too: a whole sign-in (type the code emailed to you), the token exchange, an API call and a \
        refresh; the tokens it got are revoked at the end. Runs the host's curl program. Exit status 1 when a check fails.
        """)

    @Argument(help: "The issuer: the address given to `gptauth init --issuer` (https://your.host[/path]).")
    var url: String

    @Option(help: "The action's API URL (default: <issuer>/api/greeting).")
    var api: String?

    @Option(help: "A GPT's client id: also checks ChatGPT's callback URLs and Google's redirect URI.")
    var client: String?

    @Option(help: "The client secret (or set GPTAUTH_DOCTOR_SECRET, which other users cannot read in ps).")
    var secret: String?

    @Option(help: "Sign in as this address (needs --client and the secret); you type the emailed code.")
    var email: String?

    @Option(help: "The callback URL the GPT editor shows (default: a ChatGPT callback for a new GPT id).")
    var callback: String?

    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        let secret = self.secret ?? ProcessInfo.processInfo.environment["GPTAUTH_DOCTOR_SECRET"]
        if secret != nil && client == nil { throw ValidationError("--secret needs --client") }
        if email != nil && (client == nil || secret == nil) { throw ValidationError("--email needs --client and --secret (or GPTAUTH_DOCTOR_SECRET)") }
    }

    func run() throws {
        let secret = self.secret ?? ProcessInfo.processInfo.environment["GPTAUTH_DOCTOR_SECRET"]
        let options = DeploymentDoctor.Options(issuer: url, api: api, clientID: client, secret: secret, email: email, callback: callback)
        let json = self.json
        let doctor = DeploymentDoctor(options: options, http: CurlProgramUpstream(), readCode: { email in
            FileHandle.standardError.write(Data("Type the sign-in code emailed to \(email): ".utf8))
            return readLine()?.trimmingCharacters(in: .whitespaces)
        }, report: { finding in
            guard !json else { return }
            let outcome = finding.outcome.rawValue.uppercased().padding(toLength: 5, withPad: " ", startingAt: 0)
            let check = finding.check.padding(toLength: 15, withPad: " ", startingAt: 0)
            FileHandle.standardOutput.write(Data("\(outcome) \(check) \(TerminalText.safe(finding.summary))\n".utf8))
        })
        let findings = doctor.run()
        let failed = findings.filter { $0.outcome == .fail }.count
        let warned = findings.filter { $0.outcome == .warn }.count
        if json {
            struct Report: Encodable {
                var issuer: String
                var ok: Bool
                var findings: [DoctorFinding]
            }
            print(String(decoding: try JSON.encodePretty(Report(issuer: options.issuer, ok: failed == 0, findings: findings)), as: UTF8.self))
        } else {
            print(failed == 0
                  ? "\(findings.count) checks, \(warned) warnings, nothing failed."
                  : "\(findings.count) checks, \(failed) failed, \(warned) warnings: ChatGPT will not work with this deployment until the failures are fixed.")
        }
        if failed > 0 { throw ExitCode(1) }
    }
}
