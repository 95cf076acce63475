import Foundation
import Hummingbird
import LoomStore

/// `GET /v1/blobs/{digest}`: a blob's original bytes.
///
/// Content-addressed, so the digest is a perfect ETag and the response never changes:
/// `If-None-Match` answers 304 without reading the shard, and caches may keep it forever.
/// Every read checks the record's CRC-32 against the shard (SHA-256 is not recomputed per
/// request: `loom verify` does that for the whole store).
enum BlobRoutes {
    static let routes: [Route] = [Route(.get, "/v1/blobs/{digest}", blob)]

    struct Meta: Sendable {
        var digest: Digest
        var mediaType: String
        var size: Int
    }

    static func blob(_ request: Request, _ context: BasicRequestContext, _ state: ServerState) async throws -> Response {
        _ = try QueryParameters(request, allowed: [])
        let text = try CatalogRoutes.digestParameter(context)
        let meta = try await state.store.read { store -> Meta in
            let blob = try store.read { catalog -> BlobRecord in
                let digest = try catalog.blobs.resolve(text)
                guard let blob = try catalog.blobs.blob(digest) else { throw APIError(.notFound, "no blob \(digest.hex)") }
                return blob
            }
            return Meta(digest: blob.location.digest, mediaType: blob.mediaType, size: blob.location.rawSize)
        }
        let etag = "\"\(meta.digest.hex)\""
        var headers: HTTPFields = [
            .eTag: etag,
            .contentType: meta.mediaType.isEmpty ? "application/octet-stream" : meta.mediaType,
            .acceptRanges: "bytes",
            .cacheControl: "public, max-age=31536000, immutable",
        ]
        if let match = request.headers[.ifNoneMatch], Self.matches(match, etag: etag) {
            return Response(status: .notModified, headers: headers)
        }
        var range: ClosedRange<Int>? = nil
        if let header = request.headers[.range], Self.rangeApplies(ifRange: request.headers[.ifRange], etag: etag) {
            switch ByteRange.parse(header, size: meta.size) {
            case .ignore: break
            case .satisfiable(let r): range = r
            case .unsatisfiable(let reason):
                throw APIError(.rangeNotSatisfiable, "Range \"\(header)\": \(reason)", headers: [.contentRange: "bytes */\(meta.size)"])
            }
        }
        let bytes = try await state.store.read { try $0.blobs.read(digest: meta.digest, verifyDigest: false) }
        if let range {
            headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound)/\(bytes.count)"
            return Response(status: .partialContent, headers: headers,
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes[range])))
        }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// Whether a Range is served under this `If-Range` (RFC 9110 13.1.5): only when the
    /// validator is our entity tag, compared strongly. A date never matches (blobs carry no
    /// Last-Modified), nor does a weak or stale tag: the client gets the whole blob, never a
    /// piece of other bytes than it holds.
    static func rangeApplies(ifRange: String?, etag: String) -> Bool {
        guard let ifRange else { return true }
        return ifRange.trimmingCharacters(in: .whitespaces) == etag
    }

    /// `If-None-Match: "a", W/"b"` or `*`: weak comparison, as RFC 9110 asks for this header.
    static func matches(_ header: String, etag: String) -> Bool {
        header.split(separator: ",").contains { item in
            var tag = item.trimmingCharacters(in: .whitespaces)
            if tag == "*" { return true }
            if tag.hasPrefix("W/") { tag.removeFirst(2) }
            return tag == etag
        }
    }
}

/// One `Range: bytes=...` header against a body of `size` bytes.
///
/// RFC 9110 14.2: a Range that is not valid (another unit, bad syntax, last before first) is
/// ignored and the whole body sent; 416 is only for a valid range that misses the body.
enum ByteRange: Equatable {
    /// Not a single valid byte range (another unit, several ranges, bad syntax): send the whole body.
    case ignore
    case satisfiable(ClosedRange<Int>)
    case unsatisfiable(String)

    static func parse(_ header: String, size: Int) -> ByteRange {
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard trimmed.lowercased().hasPrefix("bytes=") else { return .ignore }
        let spec = trimmed.dropFirst("bytes=".count).trimmingCharacters(in: .whitespaces)
        if spec.contains(",") { return .ignore }
        let parts = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return .ignore }
        let first = parts[0].trimmingCharacters(in: .whitespaces), last = parts[1].trimmingCharacters(in: .whitespaces)
        let digits = { (s: String) in !s.isEmpty && s.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }
        if first.isEmpty {
            guard digits(last), let suffix = Int(last) else { return .ignore }
            guard suffix > 0 else { return .unsatisfiable("a suffix of 0 bytes selects nothing") }
            guard size > 0 else { return .unsatisfiable("the blob is empty") }
            return .satisfiable(max(0, size - suffix)...(size - 1))
        }
        guard digits(first), last.isEmpty || digits(last) else { return .ignore }
        // Past Int's range is past any blob's end.
        let start = Int(first) ?? .max, end = last.isEmpty ? Int.max : Int(last) ?? .max
        guard end >= start else { return .ignore }
        guard start < size else { return .unsatisfiable("starts at \(first), the blob has \(size) bytes") }
        return .satisfiable(start...min(end, size - 1))
    }
}
