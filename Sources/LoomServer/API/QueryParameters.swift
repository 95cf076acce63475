import Hummingbird

/// The query string of a request, decoded strictly.
///
/// Strict on purpose: an unknown parameter (a typo such as `sise=224`), a repeated one, broken
/// percent-encoding or a value that is not valid UTF-8 is a 400 naming the parameter, never
/// silently ignored. `+` is a literal plus (RFC 3986), not a space: selections use it
/// (`a:train*3+b:train`); encode a space as `%20`.
struct QueryParameters {
    private var values: [String: [String]] = [:]

    init(_ request: Request, allowed: Set<String>) throws {
        guard let query = request.uri.query, !query.isEmpty else { return }
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = Self.decode(parts[0]) else {
                throw APIError(.badRequest, "malformed query string: \"\(pair)\" is not valid percent-encoded UTF-8")
            }
            guard let value = Self.decode(parts.count == 2 ? parts[1] : "") else {
                throw APIError.badParameter(key, "value is not valid percent-encoded UTF-8")
            }
            guard allowed.contains(key) else {
                let known = allowed.sorted().joined(separator: ", ")
                throw APIError(.badRequest, "unknown parameter \"\(key)\" (this endpoint takes: \(known.isEmpty ? "none" : known))")
            }
            values[key, default: []].append(value)
        }
    }

    /// Percent-decodes `text`; nil for a bad escape or bytes that are not UTF-8.
    static func decode(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
                bytes.append(high << 4 | low)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    func has(_ name: String) -> Bool { values[name] != nil }

    /// The one value of `name` (nil when absent), refusing repeats and control characters.
    func string(_ name: String) throws -> String? {
        guard let all = values[name] else { return nil }
        guard all.count == 1 else { throw APIError.badParameter(name, "given \(all.count) times; give it once") }
        let value = all[0]
        if value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            throw APIError.badParameter(name, "contains control characters")
        }
        return value
    }

    func requiredString(_ name: String) throws -> String {
        guard let value = try string(name) else { throw APIError.badParameter(name, "is required") }
        return value
    }

    /// A name in the catalog (dataset, split, class, captioner, strategy...). Names are also
    /// folder and file names on the way in, so anything that could walk a path is refused here,
    /// whichever endpoint it reaches.
    func name(_ name: String) throws -> String? {
        guard let value = try string(name) else { return nil }
        try Self.checkName(value, parameter: name)
        return value
    }

    func requiredName(_ name: String) throws -> String {
        guard let value = try self.name(name) else { throw APIError.badParameter(name, "is required") }
        return value
    }

    static func checkName(_ value: String, parameter: String) throws {
        if value.isEmpty { throw APIError.badParameter(parameter, "is empty") }
        if PathGuard.isTraversal(value) {
            throw APIError.badParameter(parameter, "\"\(value)\" looks like a path ('/', '\\', '.' or '..' segments are not allowed)")
        }
    }

    func int(_ name: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let text = try string(name) else { return nil }
        guard let value = Int(text) else { throw APIError.badParameter(name, "\"\(text)\" is not an integer") }
        guard range.contains(value) else {
            throw APIError.badParameter(name, "\(value) is out of range \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    func uint64(_ name: String) throws -> UInt64? {
        guard let text = try string(name) else { return nil }
        guard let value = UInt64(text) else { throw APIError.badParameter(name, "\"\(text)\" is not a non-negative 64-bit integer") }
        return value
    }

    func bool(_ name: String) throws -> Bool? {
        guard let text = try string(name) else { return nil }
        switch text.lowercased() {
        case "1", "true", "yes", "": return true
        case "0", "false", "no": return false
        default: throw APIError.badParameter(name, "\"\(text)\" is not a boolean (true/false/1/0)")
        }
    }

    func choice<T: RawRepresentable & CaseIterable>(_ name: String, _ type: T.Type) throws -> T? where T.RawValue == String {
        guard let text = try string(name) else { return nil }
        guard let value = T(rawValue: text) else {
            throw APIError.badParameter(name, "\"\(text)\" is not one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return value
    }
}

/// Refuses anything that could name a file outside where it is meant to be.
enum PathGuard {
    /// True when `value` has a path separator, a NUL, or is a `.`/`..` segment.
    static func isTraversal(_ value: String) -> Bool {
        if value.contains("/") || value.contains("\\") || value.contains("\0") { return true }
        return value == "." || value == ".."
    }

    /// A request path with a `.` or `..` segment, raw or percent-encoded (`%2e%2e`), or an
    /// encoded separator or NUL inside a segment. Clients normalise such paths away; one that
    /// arrives anyway is an attack or a bug, and gets a 400 rather than a lookup.
    static func checkRequestPath(_ path: String) throws {
        for segment in path.split(separator: "/", omittingEmptySubsequences: true) {
            guard let decoded = QueryParameters.decode(segment) else {
                throw APIError(.badRequest, "malformed path: segment \"\(segment)\" is not valid percent-encoded UTF-8")
            }
            if decoded == "." || decoded == ".." || decoded.contains("/") || decoded.contains("\\") || decoded.contains("\0") {
                throw APIError(.badRequest, "refused: path traversal in the request path (\"\(segment)\")")
            }
        }
    }
}

/// Applies ``PathGuard/checkRequestPath(_:)`` to every request before it is routed.
struct PathGuardMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try PathGuard.checkRequestPath(request.uri.path)
        return try await next(request, context)
    }
}
