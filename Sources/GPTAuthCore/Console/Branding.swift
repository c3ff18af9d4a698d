#if canImport(Glibc)
import Glibc
#endif

/// How a GPT's sign-in and consent pages look, set by its owner in the console: the name shown,
/// a logo (an https URL, or an image uploaded under `maxLogoBytes`), an accent colour for the
/// buttons, and links to the builder's privacy policy and terms.
public struct Branding: Codable, Sendable, Equatable {
    /// Shown instead of the GPT's registered name ("Sign in to …").
    public var displayName: String?
    /// `#rrggbb`.
    public var accentColour: String?
    public var privacyURL: String?
    public var termsURL: String?
    /// An https image the sign-in pages load from the builder's site (allowed by their CSP).
    public var logoURL: String?
    /// An uploaded image, served by the login endpoint with its own type (`/oauth/login/logo`).
    public var logo: UploadedLogo?

    public init() {}

    /// Nothing set.
    public var isEmpty: Bool { self == Branding() }
}

/// A logo uploaded in the console: PNG, JPEG, GIF or WebP, recognised by its first bytes (never by
/// what the browser said), at most `Branding.maxLogoBytes`.
public struct UploadedLogo: Codable, Sendable, Equatable {
    public var contentType: String
    /// The image, base64url.
    public var data: String
    /// SHA-256 of `data`: the image's URL changes with it, so it can be cached for long.
    public var digest: String

    public var bytes: [UInt8] { Base64URL.decode(data) ?? [] }
}

/// Why a branding form was refused.
public struct BrandingError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

extension Branding {
    /// 48 KiB: with the form around it, the upload fits the 64 KiB a request body may have (S31).
    public static let maxLogoBytes = 48 * 1024

    /// The branding a console form asks for (empty fields clear their setting): every value
    /// checked, or one clear error and nothing changed.
    public static func from(displayName: String?, accentColour: String?, privacyURL: String?, termsURL: String?, logoURL: String?,
                            upload: [UInt8]?, removeLogo: Bool, current: Branding?) throws(BrandingError) -> Branding {
        func cleaned(_ value: String?) -> String? {
            let trimmed = (value ?? "").trimmingSpaces()
            return trimmed.isEmpty ? nil : trimmed
        }
        var branding = Branding()
        if let name = cleaned(displayName) {
            guard name.count <= 100, !name.contains(where: { $0.isNewline }), !name.unicodeScalars.contains(where: TerminalText.isInvisible) else {
                throw BrandingError("The display name is 1 to 100 characters on one line.")
            }
            branding.displayName = name
        }
        if let colour = cleaned(accentColour)?.lowercased() {
            guard isColour(colour) else { throw BrandingError("The accent colour is written #rrggbb, like #3b5bdb.") }
            branding.accentColour = colour
        }
        for (value, label, keyPath) in [(privacyURL, "privacy policy", \Branding.privacyURL), (termsURL, "terms", \Branding.termsURL),
                                        (logoURL, "logo", \Branding.logoURL)] {
            guard let url = cleaned(value) else { continue }
            guard isWebAddress(url) else { throw BrandingError("The \(label) address must be an https:// address (at most 2,000 characters).") }
            branding[keyPath: keyPath] = url
        }
        branding.logo = removeLogo ? nil : current?.logo
        if let upload {
            guard upload.count <= maxLogoBytes else { throw BrandingError("The logo is larger than 48 KiB.") }
            guard let type = imageType(upload) else { throw BrandingError("The logo must be a PNG, JPEG, GIF or WebP image.") }
            let data = Base64URL.encode(upload)
            branding.logo = UploadedLogo(contentType: type, data: data, digest: Secrets.digest(data))
        }
        return branding
    }

    static func isColour(_ text: String) -> Bool {
        text.utf8.count == 7 && text.hasPrefix("#") && text.utf8.dropFirst().allSatisfy { Hex.value($0) != nil }
    }

    /// An absolute https URL with a host, no spaces, no credentials.
    static func isWebAddress(_ text: String) -> Bool {
        guard text.utf8.count <= 2000, text.lowercased().hasPrefix("https://"),
              !text.contains(where: { $0.isWhitespace || $0 == "\"" || $0 == "<" || $0 == ">" }),
              let origin = RedirectURIPolicy.origin(of: text), !origin.contains("@") else { return false }
        return origin.count > "https://".count
    }

    /// The image type of `bytes` by its signature; nil for anything else (SVG included: it can carry script).
    static func imageType(_ bytes: [UInt8]) -> String? {
        func starts(_ prefix: [UInt8], at offset: Int = 0) -> Bool {
            bytes.count >= offset + prefix.count && Array(bytes[offset..<offset + prefix.count]) == prefix
        }
        if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return "image/png" }
        if starts([0xFF, 0xD8, 0xFF]) { return "image/jpeg" }
        if starts(Array("GIF87a".utf8)) || starts(Array("GIF89a".utf8)) { return "image/gif" }
        if starts(Array("RIFF".utf8)) && starts(Array("WEBP".utf8), at: 8) { return "image/webp" }
        return nil
    }

    /// The text colour readable on `accent` (WCAG 2 contrast of at least 4.5:1 where one exists):
    /// white, or near-black.
    static func textColour(on accent: String) -> String {
        let bytes = Hex.decode(String(accent.dropFirst())) ?? [0, 0, 0]
        func channel(_ value: UInt8) -> Double {
            let c = Double(value) / 255
            return c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4)
        }
        let luminance = 0.2126 * channel(bytes[0]) + 0.7152 * channel(bytes[1]) + 0.0722 * channel(bytes[2])
        let onWhite = 1.05 / (luminance + 0.05), onDark = (luminance + 0.05) / 0.0628  // #1d1d1f: luminance ≈ 0.0128
        return onWhite >= onDark ? "#ffffff" : "#1d1d1f"
    }
}
