import Foundation
import Testing
@testable import GPTAuthCore

/// `gptauth hosting install`'s rules for the account's `.htaccess`, as a decision table, and its
/// files on disk.
@Suite("Hosting install")
struct HostingInstallTests {
    static let block = HostingInstall.rewriteBlock()

    @Test func htaccessDecisionTable() {
        let own = "ErrorDocument 404 /404.html\nRewriteRule ^old$ /new [R=301,L]\n"
        let ours = Self.block + own
        let stale = "# BEGIN GPTAuth (an older install)\nRewriteRule ^x$ y\n# END GPTAuth\n" + own
        // (existing file, --force, expected)
        let rows: [(String?, Bool, HostingInstall.Merge)] = [
            (nil, false, .write(Self.block)),                      // no file: ours
            ("", false, .write(Self.block)),
            (own, false, .refuse("it was not written by gptauth; run again with --force to put GPTAuth's rules first and keep its lines")),
            (own, true, .write(Self.block + own)),                 // forced: ours first, theirs kept
            (ours, false, .write(ours)),                           // a second run changes nothing
            (stale, false, .write(Self.block + own)),              // an older block is replaced in place
            ("# top\n" + Self.block + own, false, .write("# top\n" + Self.block + own)),
            ("# BEGIN GPTAuth\nRewriteRule ^x$ y\n", true,
             .refuse("it has a `# BEGIN GPTAuth` line without `# END GPTAuth`: mend or remove the block by hand")),
        ]
        for (existing, force, expected) in rows {
            #expect(HostingInstall.merged(existing: existing, block: Self.block, force: force) == expected, "\(existing ?? "nil")")
        }
    }

    @Test func everyPathOfTheProtocolIsMapped() {
        let rules = [
            #"RewriteRule ^\.well-known/oauth-authorization-server$ gptauth-bin/authorize [END]"#,
            "RewriteRule ^oauth/authorize$ gptauth-bin/authorize [END]",
            "RewriteRule ^oauth/login(/.*)?$ gptauth-bin/login [END]",
            "RewriteRule ^oauth/(token|revoke|introspect|register)$ gptauth-bin/verify-token [END]",
            "RewriteRule ^api/greeting$ gptauth-bin/greeting [END]",
            // Apache before 2.4.13: Authorization handed over as REDIRECT_HTTP_AUTHORIZATION.
            "RewriteRule ^ - [E=HTTP_AUTHORIZATION:%{HTTP:Authorization}]",
        ]
        let lines = Set(Self.block.split(separator: "\n").map(String.init))
        for rule in rules { #expect(lines.contains(rule), "\(rule)") }
        #expect(HostingInstall.programFolderRules().contains("CGIPassAuth On"))
        #expect(HostingInstall.programFolderRules().contains("<Files \".gptauth-*\">\nRequire all denied"))
        // Under a sub-path: RFC 8414's root form from the site root, the path's dots escaped.
        #expect(HostingInstall.rootMetadataBlock(basePath: "/gpt-auth").contains(
            #"RewriteRule ^\.well-known/oauth-authorization-server/gpt-auth$ gpt-auth/gptauth-bin/authorize [END]"#))
        #expect(HostingInstall.rootMetadataBlock(basePath: "/apps/gpt.auth").contains(
            #"RewriteRule ^\.well-known/oauth-authorization-server/apps/gpt\.auth$ apps/gpt.auth/gptauth-bin/authorize [END]"#))
        let request = Request(params: ["REDIRECT_HTTP_AUTHORIZATION": "Bearer x"], body: [])
        #expect(request.header("Authorization") == "Bearer x")
        #expect(Request(params: ["REDIRECT_HTTP_COOKIE": "a=b"], body: []).header("Cookie") == nil)
    }
}
