import ArgumentParser
import Foundation
import GPTAuthCore

/// `gptauth hosting install`: the endpoints as CGI programs on a shared hosting account (Apache).
struct HostingCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hosting", abstract: "Install the endpoints on a shared hosting account (Apache, CGI).",
        subcommands: [Install.self])

    struct Install: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy the endpoint programs under --docroot and write the .htaccess rules that serve them.",
            discussion: """
            Run it as the hosting account's user, after `gptauth init` and `gptauth client add`. It copies \
            authorize, login, verify-token, greeting and billing from this program's folder to \
            <docroot>/gptauth-bin/, names the data folder in gptauth-bin/.gptauth-data (suexec passes no \
            environment variables), and puts GPTAuth's rewrite rules first in <docroot>/.htaccess, keeping \
            your own lines. Running it again replaces what it wrote. An .htaccess it did not write is left \
            alone unless --force.
            """)

        @Option(help: "The folder the web server serves (e.g. ~/public_html).")
        var docroot: String

        @Option(help: "The data folder made by `gptauth init` (absolute path).")
        var data: String

        @Option(help: "The GPT (client id) the sample /api/greeting API serves.")
        var client: String?

        @Option(name: .customLong("base-path"), help: "The path GPTAuth is served under (the issuer's path, e.g. /gpt-auth); by default the issuer's.")
        var basePath: String?

        @Flag(help: "Put GPTAuth's rules first in an .htaccess gptauth did not write (its lines are kept).")
        var force = false

        func run() throws {
            guard let program = DataFolderLocation.currentExecutable() else { throw Failure("cannot find this program's own folder") }
            let binaries = (program as NSString).deletingLastPathComponent
            let docroot = absolute(self.docroot), data = absolute(self.data)
            let report: HostingInstall.Report
            do {
                report = try HostingInstall.install(binaries: binaries, docroot: docroot, dataFolder: data, clientID: client,
                                                   basePath: basePath, force: force)
            } catch {
                throw Failure(error.description)
            }
            let configuration: Configuration
            do { configuration = try Configuration.load(dataFolder: data) } catch { throw Failure(error.description) }
            print("""
            Installed the endpoints in \(report.programFolder) and the rules in \(report.htaccess).
            Data folder: \(report.dataFolder) (named in \(report.programFolder)/\(DataFolderLocation.pointerName))
            In the GPT editor: Authorization URL \(configuration.authorizationURL)
                               Token URL         \(configuration.tokenURL)
            Check it from outside: gptauth doctor \(configuration.baseURL) --client <client id>
            """)
            for note in report.notes { print("Note: " + note) }
        }

        private func absolute(_ path: String) -> String {
            let expanded = (path as NSString).expandingTildeInPath
            return expanded.hasPrefix("/") ? expanded : FileManager.default.currentDirectoryPath + "/" + expanded
        }
    }
}
