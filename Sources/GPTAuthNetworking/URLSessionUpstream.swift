import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import GPTAuthCore
import Synchronization

/// The production `UpstreamHTTP`: URLSession (over the system libcurl on Linux), certificate checks
/// on, a 10-second timeout. Called synchronously from the request's own thread.
public struct URLSessionUpstream: UpstreamHTTP {
    public init() {}

    public func send(_ request: UpstreamRequest) throws -> UpstreamResponse {
        guard let url = URL(string: request.url), url.scheme == "https" || url.scheme == "http" else {
            throw UpstreamFailure(message: "bad URL \(request.url)")
        }
        var urlRequest = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: 10)
        urlRequest.httpMethod = request.method
        for (name, value) in request.headers { urlRequest.setValue(value, forHTTPHeaderField: name) }
        if !request.body.isEmpty { urlRequest.httpBody = Data(request.body) }

        let outcome = Mutex<Result<UpstreamResponse, UpstreamFailure>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let task = URLSession.shared.dataTask(with: urlRequest) { data, response, error in
            let result: Result<UpstreamResponse, UpstreamFailure>
            if let error {
                result = .failure(UpstreamFailure(message: error.localizedDescription))
            } else if let http = response as? HTTPURLResponse {
                result = .success(UpstreamResponse(status: http.statusCode, body: Array((data ?? Data()).prefix(1 << 20))))
            } else {
                result = .failure(UpstreamFailure(message: "no HTTP response"))
            }
            outcome.withLock { $0 = result }
            done.signal()
        }
        task.resume()
        if done.wait(timeout: .now() + 12) == .timedOut {
            task.cancel()
            throw UpstreamFailure(message: "timed out")
        }
        guard let result = outcome.withLock({ $0 }) else { throw UpstreamFailure(message: "no result") }
        return try result.get()
    }
}

struct UpstreamFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
