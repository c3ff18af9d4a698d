/// An error that knows how it reads to whoever sent the request: the one protocol every error an
/// endpoint lets out adopts (as Hummingbird's `HTTPResponseError`), so `Endpoint.response(to:)` is
/// the one place that catches, and no endpoint needs a `catch` of its own to shape an answer.
public protocol HTTPResponseError: Error {
    var status: Int { get }
    /// The answer in an endpoint's style: a page for a browser, JSON for a program, RFC 6749 §5.2
    /// JSON for the token endpoint.
    func response(_ style: ErrorStyle) -> Response
    /// What the operator's log (and audit trail) keeps of it; `network` is the caller's network,
    /// `style` the endpoint's.
    func record(in log: Log, request: Request, network: String, style: ErrorStyle)
}

extension HTTPResponseError {
    /// By default a server-side failure is logged with its path; a refusal is the caller's business.
    public func record(in log: Log, request: Request, network: String, style: ErrorStyle) {
        if status >= 500 { log.error("request_failed", ["status": String(status), "path": request.path]) }
    }
}

/// How an endpoint's errors reach the caller.
public enum ErrorStyle: Sendable {
    /// A readable page (the sign-in pages).
    case page
    /// A readable page in the console's layout.
    case console
    /// `{"error": …, "message": …}` (the APIs).
    case json
    /// RFC 6749 §5.2: `{"error": …, "error_description": …}` with `Cache-Control: no-store` (S28),
    /// for every answer of the token, revocation and introspection endpoints, the 503 included.
    case oauth
}

extension HTTPError: HTTPResponseError {
    public func response(_ style: ErrorStyle) -> Response {
        switch style {
        case .page:
            return Response.html(status, Page.error(message: message), headers: headers)
        case .console:
            return Response.html(status, ConsolePage.problem(message: message), headers: headers)
        case .json:
            return Response.json(status, ErrorBody(error: ErrorBody.code(status), message: message), headers: headers)
        case .oauth:
            // §5.2 has codes for a bad request, an overloaded server and a failure; the status of a
            // body too large or of the wrong type is kept, as it says more than a bare 400.
            let code: OAuthError.Code = status >= 500 ? (status == 503 ? .temporarilyUnavailable : .serverError)
                : status == 429 ? .slowDown : .invalidRequest
            var response = OAuthError(code, message).response
            if [413, 415, 405].contains(status) { response.status = status }
            response.headers += headers
            return response
        }
    }

    /// A failure is an error line; at the token endpoint a refusal is a warning with its reason
    /// too (ChatGPT shows the builder only "received 400 from <token URL>").
    public func record(in log: Log, request: Request, network: String, style: ErrorStyle) {
        if status >= 500 {
            log.error("request_failed", ["status": String(status), "reason": message, "path": request.path])
        } else if style == .oauth {
            log.warning("token_request_refused", ["status": String(status), "reason": message, "address": network])
        }
    }
}

extension StoreError: HTTPResponseError {
    public var status: Int { 503 }

    /// Nothing was changed: the caller may try again (the cause is in the log, not in the answer).
    public func response(_ style: ErrorStyle) -> Response {
        HTTPError.unavailable("The sign-in service cannot reach its data right now. Please try again in a minute.").response(style)
    }

    public func record(in log: Log, request: Request, network: String, style: ErrorStyle) {
        log.error("store_unavailable", ["reason": description, "path": request.path])
    }
}

extension OAuthError: HTTPResponseError {
    public func response(_ style: ErrorStyle) -> Response {
        switch style {
        case .oauth, .json: return response
        case .page: return Response.html(status, Page.error(message: description))
        case .console: return Response.html(status, ConsolePage.problem(message: description))
        }
    }

    /// Every refusal is logged with its cause (ChatGPT shows the builder only "received 400 from
    /// <token URL>"); failed client logins and throttling also go to the audit trail, once per
    /// window for a throttled source (S32).
    public func record(in log: Log, request: Request, network: String, style: ErrorStyle) {
        log.warning("token_request_refused", ["error": code.rawValue, "reason": cause, "address": network])
        if code == .invalidClient || code == .slowDown, audited {
            log.audit(code == .slowDown ? "rate_limited" : "client_auth_failed",
                      ["client_id": clientID ?? "-", "reason": cause, "address": network])
        }
    }
}

extension BearerChallenge: HTTPResponseError {
    public var status: Int { 401 }
    public func response(_ style: ErrorStyle) -> Response { response }
}

extension GateRefusal: HTTPResponseError {
    public func response(_ style: ErrorStyle) -> Response { response }
}

extension AuthorizationRequestFailure: HTTPResponseError {
    public var status: Int {
        switch self {
        case .showPage(let error): return error.status
        case .redirect: return 302
        }
    }

    /// Always for the browser: a page, or the redirect back to the client.
    public func response(_ style: ErrorStyle) -> Response { response }

    public func record(in log: Log, request: Request, network: String, style: ErrorStyle) {
        if case .redirect(_, let error, _, _) = self {
            log.info("authorization_refused", ["error": error.code.rawValue, "reason": error.cause])
        }
    }
}
