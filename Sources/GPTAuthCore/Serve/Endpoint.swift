/// How an endpoint's errors reach the caller: a readable page for a browser, JSON for a program.
public enum ErrorStyle: Sendable {
    case page
    case json
}

/// An endpoint: a function from a request to a response. `respond(to:)` may throw; the one place
/// that turns a thrown error into a response is `response(to:)` below.
public protocol Endpoint: Sendable {
    var errorStyle: ErrorStyle { get }
    var log: Log { get }
    func respond(to request: Request) throws -> Response
    /// Work that must not delay the answer (clean-up), run once the response has been sent.
    func afterResponse()
}

extension Endpoint {
    public func afterResponse() {}

    /// The response to `request`: what the endpoint returns, or its error rendered in the
    /// endpoint's style. Anything unexpected is logged and becomes a 500, never a crash.
    public func response(to request: Request) -> Response {
        do {
            return try respond(to: request)
        } catch let error as HTTPError {
            if error.status >= 500 {
                log.error("request_failed", ["status": String(error.status), "reason": error.message, "path": request.path])
            }
            return ErrorResponse.render(error, style: errorStyle)
        } catch let error as StoreError {
            log.error("store_unavailable", ["reason": error.description, "path": request.path])
            return ErrorResponse.render(
                .unavailable("The sign-in service cannot reach its data right now. Please try again in a minute."),
                style: errorStyle)
        } catch {
            log.error("unexpected_error", ["reason": String(describing: error), "path": request.path])
            return ErrorResponse.render(HTTPError(status: 500, "Something went wrong on our side. Please try again."),
                                        style: errorStyle)
        }
    }
}

/// Rendering an `HTTPError` as a page or as JSON.
public enum ErrorResponse {
    public static func render(_ error: HTTPError, style: ErrorStyle) -> Response {
        switch style {
        case .page:
            return Response.html(error.status, Page.error(message: error.message), headers: error.headers)
        case .json:
            return Response.json(error.status, ErrorBody(error: code(error.status), message: error.message),
                                 headers: error.headers)
        }
    }

    /// The answer to a body over `Limits.body`, given before the body is read.
    static func tooLarge(params: [String: String]) -> Response {
        let path = params["DOCUMENT_URI"] ?? params["REQUEST_URI"] ?? ""
        let wantsJSON = (params["CONTENT_TYPE"] ?? "").contains("json") || !path.hasPrefix("/oauth/login")
        let error = HTTPError(status: 413, "The request body is larger than \(Limits.body) bytes.")
        return render(error, style: wantsJSON ? .json : .page)
    }

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
