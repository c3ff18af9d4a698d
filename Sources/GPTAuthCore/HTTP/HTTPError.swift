/// A request that cannot be served, with the sentence the person (or program) should read.
/// Thrown by endpoints; the serve loop turns it into a readable page or a JSON error.
public struct HTTPError: Error, Sendable, Equatable {
    public var status: Int
    public var message: String
    /// Extra headers, e.g. `Retry-After` on 429.
    public var headers: [(String, String)]

    public init(status: Int, _ message: String, headers: [(String, String)] = []) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    public static func == (a: HTTPError, b: HTTPError) -> Bool {
        a.status == b.status && a.message == b.message
    }

    /// 503: the data folder or configuration is unusable; nothing was changed.
    public static func unavailable(_ message: String) -> HTTPError { HTTPError(status: 503, message) }
}
