import Foundation
import Glibc
import HTTPTypes
import Hummingbird

/// The names a request's `Host` may give: the defence against DNS rebinding.
///
/// A web page on `attacker.example` can have its name re-resolve to 127.0.0.1 and then read
/// this server with the browser's same-origin blessing; the browser still sends
/// `Host: attacker.example`, which no legitimate client of this server does. So:
///
/// - bound to loopback: `localhost`, `127.0.0.1`, `[::1]` and the bound address;
/// - bound to one address: that address;
/// - bound to every interface (`0.0.0.0`, `::`): any IP address literal (a page can only carry
///   an address in its origin by being served from that address), `localhost` and this
///   machine's host name;
///
/// plus the names given with `--allowed-host` (`*` turns the check off, for a proxy that
/// rewrites Host). The port is not compared: rebinding changes the name, not the port. A
/// request without Host (HTTP/1.0) has no name to rebind and is served.
struct HostPolicy: Sendable {
    private let names: Set<String>
    private let anyAddress: Bool
    private let anyName: Bool
    /// The bound address, for the refusal's message.
    let boundHost: String

    init(boundHost: String, allowed: [String]) {
        self.boundHost = boundHost
        var names = Set(allowed.map(Self.normalise))
        anyName = names.contains("*")
        let bound = Self.normalise(boundHost)
        let wildcard = bound.isEmpty || bound == "0.0.0.0" || bound == "::"
        anyAddress = wildcard
        if wildcard {
            names.insert("localhost")
            names.formUnion(Self.machineNames())
        } else {
            names.insert(bound)
            if Self.isLoopback(bound) { names.formUnion(["localhost", "127.0.0.1", "::1"]) }
        }
        self.names = names
    }

    /// Whether a request with this authority (`Host` value) is served.
    func allows(_ authority: String) -> Bool {
        if anyName { return true }
        guard let host = Self.host(ofAuthority: authority) else { return false }
        if names.contains(host) { return true }
        return anyAddress && Self.isAddressLiteral(host)
    }

    /// `Example.com:8080` -> `example.com`, `[::1]:80` -> `::1`; nil for what is not
    /// host[:port] (userinfo, a non-numeric port, an empty name).
    static func host(ofAuthority authority: String) -> String? {
        var text = Substring(authority.trimmingCharacters(in: .whitespaces))
        let host: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            text = text[text.index(after: close)...]
        } else {
            let colon = text.firstIndex(of: ":") ?? text.endIndex
            host = text[..<colon]
            text = text[colon...]
        }
        if !text.isEmpty {
            let port = text.dropFirst()
            guard text.first == ":", port.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        }
        let name = normalise(String(host))
        guard !name.isEmpty, !name.contains("@"), !name.contains("/") else { return nil }
        return name
    }

    /// Lower case, without IPv6 brackets or a root-label dot (`example.com.` is `example.com`).
    static func normalise(_ name: String) -> String {
        var name = name.trimmingCharacters(in: .whitespaces).lowercased()
        if name.hasPrefix("[") && name.hasSuffix("]") && name.count >= 2 { name = String(name.dropFirst().dropLast()) }
        if name.hasSuffix(".") && name.count > 1 { name.removeLast() }
        return name
    }

    static func isAddressLiteral(_ host: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }

    static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" { return true }
        var v4 = in_addr()
        return inet_pton(AF_INET, host, &v4) == 1 && UInt32(bigEndian: v4.s_addr) >> 24 == 127
    }

    /// This machine's name as `gethostname` gives it, and its first label.
    private static func machineNames() -> Set<String> {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return [] }
        let name = normalise(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        guard !name.isEmpty else { return [] }
        return [name, String(name.split(separator: ".").first ?? Substring(name))]
    }
}

/// Refuses requests whose `Host` this server does not answer to (421), before routing.
struct HostGuardMiddleware<Context: RequestContext>: RouterMiddleware {
    let policy: HostPolicy

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // HTTPTypes moves the first Host into `authority`; another one stays a header field.
        if request.headers[HTTPField.Name("Host")!] != nil {
            throw APIError(.badRequest, "the request carries more than one Host header")
        }
        if let authority = request.head.authority, !policy.allows(authority) {
            throw APIError(.misdirectedRequest,
                           "this server does not answer to Host \"\(authority.prefix(200))\" (bound to \(policy.boundHost)); "
                               + "start loom serve with --allowed-host NAME to accept a name")
        }
        return try await next(request, context)
    }
}
