#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Email address checks, deliberately simple: one `@`, a dotted domain, no spaces or controls.
public enum EmailAddress {
    /// The lower-cased address, or nil when it is not plausibly an address.
    public static func normalized(_ raw: String) -> String? {
        let email = raw.trimmingHorizontalSpace().lowercased()
        guard (3...254).contains(email.utf8.count) else { return nil }
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].utf8.count <= 64, parts[1].contains("."),
              !parts[1].hasPrefix("."), !parts[1].hasSuffix(".") else { return nil }
        guard email.unicodeScalars.allSatisfy({ $0.value > 0x20 && !TerminalText.isInvisible($0) && !"<>()[],;:\\\"".unicodeScalars.contains($0) }) else {
            return nil
        }
        return email
    }

    /// The mailbox an address delivers to, for GPTs that count one user per mailbox (the client's
    /// `oneUserPerMailbox`): `name+tag@` is `name@` everywhere, and at Gmail dots do not count and
    /// `googlemail.com` is `gmail.com`. Without the opt-in, every address is its own user.
    public static func mailbox(_ email: String) -> String {
        let parts = email.lowercased().split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return email.lowercased() }
        var local = String(parts[0].prefix { $0 != "+" })
        var domain = String(parts[1])
        if domain == "googlemail.com" { domain = "gmail.com" }
        if domain == "gmail.com" { local.removeAll { $0 == "." } }
        return local.isEmpty ? email.lowercased() : local + "@" + domain
    }
}
