import Dispatch
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import LoomStore

/// A small blocking JSON-over-HTTP client for the `http:` backends: `URLSession` driven
/// synchronously (the pipeline stages are synchronous), with a per-request time limit.
///
/// Every error names the method, the URL and, for an HTTP error status, the status code and
/// the start of the body, so a failure recorded in the catalog says which server refused what.
final class HTTPClient: Sendable {
    let timeout: TimeInterval
    let token: String?
    private let session: URLSession

    init(timeout: TimeInterval, token: String?) {
        self.timeout = timeout
        self.token = token
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.timeoutIntervalForResource = timeout
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.httpMaximumConnectionsPerHost = 64
        session = URLSession(configuration: configuration)
    }

    deinit { session.finishTasksAndInvalidate() }

    /// The bearer token from the environment: `LOOM_HTTP_TOKEN`, else `OPENAI_API_KEY`.
    static func tokenFromEnvironment() -> String? {
        let environment = ProcessInfo.processInfo.environment
        for key in ["LOOM_HTTP_TOKEN", "OPENAI_API_KEY"] {
            if let value = environment[key]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty { return value }
        }
        return nil
    }

    /// A request in flight; ``wait()`` blocks until it is answered or has run out of time.
    final class Pending: @unchecked Sendable {
        let method: String
        let url: URL
        private let done = DispatchSemaphore(value: 0)
        private let lock = NSLock()
        private var outcome: Result<(Int, Data), any Error>?
        fileprivate var task: URLSessionDataTask?
        private let timeout: TimeInterval

        fileprivate init(method: String, url: URL, timeout: TimeInterval) {
            self.method = method
            self.url = url
            self.timeout = timeout
        }

        fileprivate func finish(_ result: Result<(Int, Data), any Error>) {
            lock.lock()
            let first = outcome == nil
            if first { outcome = result }
            lock.unlock()
            if first { done.signal() }
        }

        /// The JSON object the server answered with.
        func wait() throws -> [String: Any] {
            // URLSession enforces the limit itself; the semaphore's own limit is a safety net.
            if done.wait(timeout: .now() + timeout + 5) == .timedOut {
                task?.cancel()
                finish(.failure(PipelineError(.unavailable, "no answer within \(Self.seconds(timeout))")))
            }
            lock.lock()
            let result = outcome!
            lock.unlock()
            let where_ = "\(method) \(url.absoluteString)"
            let (status, body): (Int, Data)
            switch result {
            case .success(let answer): (status, body) = answer
            case .failure(let error as URLError) where error.code == .timedOut:
                throw PipelineError(.unavailable, "\(where_): timed out after \(Self.seconds(timeout))")
            case .failure(let error as URLError):
                throw PipelineError(.unavailable, "\(where_): cannot reach the server: \(error.localizedDescription) (URLError \(error.code.rawValue))")
            case .failure(let error):
                throw PipelineError(.unavailable, "\(where_): \(error)")
            }
            guard (200..<300).contains(status) else {
                throw PipelineError(.unavailable, "\(where_): HTTP \(status): \(Self.snippet(body))")
            }
            let json: Any
            do {
                json = try JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed])
            } catch {
                throw PipelineError(.internal, "\(where_): the answer is not JSON: \(Self.snippet(body))")
            }
            guard let object = json as? [String: Any] else {
                throw PipelineError(.internal, "\(where_): the answer is not a JSON object: \(Self.snippet(body))")
            }
            return object
        }

        static func seconds(_ value: TimeInterval) -> String {
            value == value.rounded() ? "\(Int(value)) s" : "\(value) s"
        }

        /// The start of a body, on one line, for an error message.
        static func snippet(_ body: Data, limit: Int = 300) -> String {
            if body.isEmpty { return "(empty body)" }
            var text = String(decoding: body.prefix(limit), as: UTF8.self)
                .replacingOccurrences(of: "\n", with: " ").trimmingCharacters(in: .whitespaces)
            if body.count > limit { text += "..." }
            return "\"\(text)\""
        }
    }

    /// Starts a request: a JSON `body` is POSTed, no body is a GET.
    func start(_ url: URL, json body: [String: Any]? = nil, timeout: TimeInterval? = nil) -> Pending {
        let limit = timeout ?? self.timeout
        var request = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: limit)
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let pending = Pending(method: body == nil ? "GET" : "POST", url: url, timeout: limit)
        if let body {
            request.httpMethod = "POST"
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            do {
                request.httpBody = try JSONSerialization.data(withJSONObject: body, options: [.withoutEscapingSlashes])
            } catch {
                pending.finish(.failure(PipelineError(.internal, "cannot encode the request as JSON: \(error)")))
                return pending
            }
        }
        let task = session.dataTask(with: request) { data, response, error in
            if let error {
                pending.finish(.failure(error))
            } else if let response = response as? HTTPURLResponse {
                pending.finish(.success((response.statusCode, data ?? Data())))
            } else {
                pending.finish(.failure(PipelineError(.unavailable, "no HTTP response")))
            }
        }
        pending.task = task
        task.resume()
        return pending
    }

    /// Sends one request and waits for its JSON object.
    func send(_ url: URL, json body: [String: Any]? = nil, timeout: TimeInterval? = nil) throws -> [String: Any] {
        try start(url, json: body, timeout: timeout).wait()
    }
}

/// A parsed `http:` spec: the server's base URL and Loom's options.
///
/// Format: `http:BASE_URL[?option=value&option=value...]`, e.g.
/// `http:http://127.0.0.1:8000/v1?model=llava-hf/llava-1.5-7b-hf&max_tokens=96`. The query
/// part is read by Loom, not sent to the server. Values are percent-decoded and `+` is a space
/// (`prompt=Describe+the+image`); a literal `&` in a value must be written `%26`.
struct HTTPSpec {
    var spec: String
    var base: String
    var options: [String: String]

    init(_ text: String, role: String, allowed: [String], available: [String]) throws {
        spec = "http:" + text
        let (urlPart, query) = text.firstIndex(of: "?").map { (String(text[..<$0]), String(text[text.index(after: $0)...])) }
            ?? (text, "")
        guard let components = URLComponents(string: urlPart), let scheme = components.scheme?.lowercased(),
              ["http", "https"].contains(scheme), let host = components.host, !host.isEmpty else {
            throw PipelineError(.invalidInput, """
                the http \(role) backend needs a server URL after "http:", e.g. \
                http:http://127.0.0.1:\(role == "captioner" ? "8000/v1?model=NAME" : "7860"); got "\(text)" \
                (other \(role) backends: \(available.joined(separator: ", ")))
                """)
        }
        var base = urlPart
        while base.hasSuffix("/") { base.removeLast() }
        self.base = base
        options = [:]
        for pair in query.split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(parts[0])
            let raw = parts.count > 1 ? String(parts[1]).replacingOccurrences(of: "+", with: " ") : ""
            guard allowed.contains(key) else {
                throw PipelineError(.invalidInput, "unknown option \"\(key)\" in \(spec); the http \(role) backend takes: \(allowed.joined(separator: ", "))")
            }
            options[key] = raw.removingPercentEncoding ?? raw
        }
    }

    func url(_ path: String) throws -> URL {
        guard let url = URL(string: base + path) else { throw PipelineError(.invalidInput, "cannot form a URL from \(base) and \(path)") }
        return url
    }

    func int(_ key: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = options[key] else { return value }
        guard let number = Int(text), range.contains(number) else {
            throw PipelineError(.invalidInput, "option \(key)=\(text) in \(spec) must be a whole number in \(range.lowerBound)...\(range.upperBound)")
        }
        return number
    }

    func seconds(_ key: String, default value: TimeInterval) throws -> TimeInterval {
        guard let text = options[key] else { return value }
        guard let number = Double(text), number > 0, number <= 86_400 else {
            throw PipelineError(.invalidInput, "option \(key)=\(text) in \(spec) must be a number of seconds above 0")
        }
        return number
    }
}
