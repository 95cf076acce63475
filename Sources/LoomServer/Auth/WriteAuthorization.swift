import Foundation
import Hummingbird
import LoomStore

/// The bearer token that every write must carry.
///
/// Reads are open; writes need `Authorization: Bearer TOKEN`. Tokens are compared as SHA-256
/// digests in constant time: hashing first makes the comparison length-independent, and the
/// XOR-accumulate loop takes the same time wherever the first differing byte is.
struct WriteAuthorization: Sendable {
    private let expected: Digest?

    init(token: String?) {
        expected = token.map { Digest.sha256(Array($0.utf8)) }
    }

    var writesEnabled: Bool { expected != nil }

    /// - Throws: 403 when writes are off or the token is wrong; 401 when the request carries no
    ///   bearer token or an ill-formed one.
    func check(_ request: Request) throws {
        guard let expected else {
            throw APIError(.forbidden, "writes are disabled on this server: start loom serve with --token-file FILE or LOOM_TOKEN to enable them")
        }
        let challenge: HTTPFields = [.wwwAuthenticate: "Bearer realm=\"loom\""]
        let values = request.headers[values: .authorization]
        guard values.count == 1 else {
            throw APIError(.unauthorized, values.isEmpty ? "this endpoint writes: send Authorization: Bearer TOKEN"
                                                         : "send exactly one Authorization header", headers: challenge)
        }
        let parts = values[0].split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].isEmpty else {
            throw APIError(.unauthorized, "the Authorization header must be \"Bearer TOKEN\"", headers: challenge)
        }
        let given = Digest.sha256(Array(parts[1].trimmingCharacters(in: .whitespaces).utf8))
        guard Self.constantTimeEqual(given, expected) else {
            throw APIError(.forbidden, "the bearer token is not the one this server was started with")
        }
    }

    static func constantTimeEqual(_ a: Digest, _ b: Digest) -> Bool {
        var difference: UInt8 = 0
        for i in 0..<32 { difference |= a.bytes[i] ^ b.bytes[i] }
        return difference == 0
    }
}
