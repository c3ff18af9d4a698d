/// An endpoint: a function from a request to a response. `respond(to:)` may throw; the one place
/// that turns a thrown error into a response is `response(to:)` below. Its component name (its log
/// file, its executable) and the style of its errors are declared once, on its type.
public protocol Endpoint: Sendable {
    static var component: String { get }
    static var errorStyle: ErrorStyle { get }
    var service: Service { get }
    var log: Log { get }
    func respond(to request: Request) throws -> Response
    /// Work that must not delay the answer (clean-up), run once the response has been sent.
    func afterResponse()
}

extension Endpoint {
    public func afterResponse() {}

    /// The response to `request`: what the endpoint returns, or its error rendered in the
    /// endpoint's style (`HTTPResponseError`). Anything unexpected is logged and becomes a 500,
    /// never a crash.
    public func response(to request: Request) -> Response {
        var request = request
        request.mountPath = service.basePath
        do {
            return try respond(to: request)
        } catch let error as any HTTPResponseError {
            error.record(in: log, request: request, network: service.network(request), style: Self.errorStyle)
            return error.response(Self.errorStyle)
        } catch {
            log.error("unexpected_error", ["reason": String(describing: error), "path": request.path])
            return HTTPError(status: 500, "Something went wrong on our side. Please try again.").response(Self.errorStyle)
        }
    }
}

/// Answers given before an endpoint sees the request.
public enum ErrorResponse {
    /// The answer to a body over `Limits.body`, given before the body is read.
    static func tooLarge(params: [String: String]) -> Response {
        // The route, under whatever path GPTAuth is mounted at (the configuration is not read here).
        let path = Request(params: params).serverPath
        let wantsJSON = (params["CONTENT_TYPE"] ?? "").contains("json") || !path.contains("/oauth/login")
        let error = HTTPError(status: 413, "The request body is larger than \(Limits.body) bytes.")
        return error.response(path.contains("/oauth/token") || path.contains("/oauth/revoke") || path.contains("/oauth/introspect")
                              ? .oauth : wantsJSON ? .json : .page)
    }
}

extension ErrorBody {
    /// The `error` code of a JSON error with this status.
    static func code(_ status: Int) -> String {
        switch status {
        case 400: return "invalid_request"
        case 401: return "invalid_token"
        case 403: return "forbidden"
        case 404: return "not_found"
        case 405: return "method_not_allowed"
        case 413, 414: return "request_too_large"
        case 415: return "unsupported_media_type"
        case 429: return "too_many_requests"
        case 503: return "temporarily_unavailable"
        default: return "server_error"
        }
    }
}

/// The error body of the JSON endpoints that are not RFC 6749's token endpoint.
public struct ErrorBody: Codable, Sendable, Equatable {
    public var error: String
    public var message: String

    public init(error: String, message: String) {
        self.error = error
        self.message = message
    }
}
