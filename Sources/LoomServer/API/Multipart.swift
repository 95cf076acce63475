import Foundation
import Glibc

/// A `multipart/form-data` body (RFC 7578), parsed from memory.
///
/// Only what uploads need: each part's name, filename and bytes. The body was already bounded
/// by `--max-upload-bytes` before it got here.
///
/// Not vapor/multipart-kit (4.7.1 measured): its parser hands a header value that is not UTF-8
/// over as "", so a Latin-1 filename's part cannot be named in the refusal; its parameter
/// reader splits quoted values at `;` and `=` and knows no `filename*`; a body cut short
/// parses without an error; and it reads 140-200 MiB/s against 1.9-2.6 GB/s here (64 MiB
/// bodies, one part or 256, release build).
struct MultipartForm {
    struct Part {
        var name: String
        var filename: String?
        var contentType: String?
        var bytes: ArraySlice<UInt8>
    }

    var parts: [Part] = []

    /// The boundary of a `multipart/form-data; boundary=...` content type, nil for any other type.
    static func boundary(contentType: String) -> String? {
        let pieces = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let type = pieces.first, type.lowercased() == "multipart/form-data" else { return nil }
        for piece in pieces.dropFirst() {
            let pair = piece.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2, pair[0].lowercased() == "boundary" else { continue }
            var value = pair[1]
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            return (1...70).contains(value.utf8.count) ? value : nil
        }
        return nil
    }

    struct ParseError: Error, CustomStringConvertible { var description: String }

    init(body: [UInt8], boundary: String) throws {
        let delimiter = Array("--\(boundary)".utf8)
        let separator = Array("\r\n--\(boundary)".utf8)
        guard var position = Self.find(delimiter, in: body, from: 0) else {
            throw ParseError(description: "no multipart boundary \"\(boundary)\" in the body")
        }
        position += delimiter.count
        while true {
            // After a delimiter: "--" ends the body, CRLF starts a part.
            if body.count >= position + 2, body[position] == UInt8(ascii: "-"), body[position + 1] == UInt8(ascii: "-") { return }
            guard body.count >= position + 2, body[position] == 0x0D, body[position + 1] == 0x0A else {
                throw ParseError(description: "malformed multipart body: expected CRLF after a boundary")
            }
            position += 2
            guard let headerEnd = Self.find(Array("\r\n\r\n".utf8), in: body, from: position) else {
                throw ParseError(description: "malformed multipart body: a part's headers do not end")
            }
            let headerBytes = body[position..<headerEnd]
            // Decoding replaces bytes that are not UTF-8 with U+FFFD: a Latin-1 filename would
            // be stored under a name nobody sent, so such a part is refused instead.
            guard let headerText = String(validating: headerBytes, as: UTF8.self) else {
                let name = Self.headerFields(String(decoding: headerBytes, as: UTF8.self)).first { $0.name == "content-disposition" }
                    .map { Self.dispositionParameters($0.value)["name"] ?? "" } ?? ""
                throw ParseError(description: "part \"\(name)\": its headers are not valid UTF-8 (a filename in Latin-1?); "
                                     + "send the filename as UTF-8, or as filename*=UTF-8''percent-encoded-name (RFC 5987)")
            }
            let contentStart = headerEnd + 4
            guard let contentEnd = Self.find(separator, in: body, from: contentStart) else {
                throw ParseError(description: "malformed multipart body: the last part is not closed by its boundary (body cut short?)")
            }
            var part = Part(name: "", filename: nil, contentType: nil, bytes: body[contentStart..<contentEnd])
            for field in Self.headerFields(headerText) {
                switch field.name {
                case "content-disposition":
                    let parameters = Self.dispositionParameters(field.value)
                    part.name = parameters["name"] ?? ""
                    part.filename = parameters["filename"]
                    // RFC 6266: the extended form, where given, is the one to use.
                    if let extended = parameters["filename*"] { part.filename = try Self.extendedValue(extended, part: part.name) }
                case "content-type":
                    part.contentType = field.value
                default:
                    break
                }
            }
            parts.append(part)
            position = contentEnd + separator.count
        }
    }

    /// A part's header lines as (lower-cased name, value).
    static func headerFields(_ text: String) -> [(name: String, value: String)] {
        text.split(separator: "\r\n").compactMap { line in
            let pair = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            return pair.count == 2 ? (pair[0].lowercased(), pair[1]) : nil
        }
    }

    /// An RFC 5987 value, `UTF-8'language'percent-encoded`: the decoded text.
    static func extendedValue(_ value: String, part: String) throws -> String {
        let pieces = value.split(separator: "'", maxSplits: 2, omittingEmptySubsequences: false)
        guard pieces.count == 3 else {
            throw ParseError(description: "part \"\(part)\": filename* must be charset'language'percent-encoded-name")
        }
        guard pieces[0].lowercased() == "utf-8" else {
            throw ParseError(description: "part \"\(part)\": filename* is in charset \"\(pieces[0])\"; only UTF-8 is accepted")
        }
        guard let decoded = QueryParameters.decode(pieces[2]) else {
            throw ParseError(description: "part \"\(part)\": filename* is not valid percent-encoded UTF-8")
        }
        return decoded
    }

    /// `form-data; name="file"; filename="a.jpg"` -> ["name": "file", "filename": "a.jpg"].
    static func dispositionParameters(_ value: String) -> [String: String] {
        var result: [String: String] = [:]
        var scalars = Substring(value)
        // Skip the disposition type.
        if let semicolon = scalars.firstIndex(of: ";") { scalars = scalars[scalars.index(after: semicolon)...] } else { return result }
        while !scalars.isEmpty {
            scalars = scalars.drop(while: { $0 == " " || $0 == ";" })
            guard let equals = scalars.firstIndex(of: "=") else { break }
            let key = scalars[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            scalars = scalars[scalars.index(after: equals)...]
            var value = ""
            if scalars.first == "\"" {
                scalars = scalars.dropFirst()
                // Only \" is an escape: browsers send Windows paths' backslashes as they are,
                // and a backslash must reach the filename check, not vanish.
                while let c = scalars.first {
                    scalars = scalars.dropFirst()
                    if c == "\\" && scalars.first == "\"" { value.append("\""); scalars = scalars.dropFirst() }
                    else if c == "\"" { break } else { value.append(c) }
                }
            } else {
                let end = scalars.firstIndex(of: ";") ?? scalars.endIndex
                value = scalars[..<end].trimmingCharacters(in: .whitespaces)
                scalars = scalars[end...]
            }
            result[key] = value
        }
        return result
    }

    /// The first index of `needle` in `haystack` at or after `start` (`memchr` for the first
    /// byte, then `memcmp`).
    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard !haystack.isEmpty, !needle.isEmpty, start <= haystack.count else { return nil }
        return haystack.withUnsafeBytes { hay -> Int? in
            needle.withUnsafeBytes { pin -> Int? in
                let base = hay.baseAddress!
                var position = start
                while hay.count - position >= pin.count {
                    guard let hit = memchr(base + position, Int32(pin[0]), hay.count - position - pin.count + 1) else { return nil }
                    let offset = base.distance(to: UnsafeRawPointer(hit))
                    if memcmp(base + offset, pin.baseAddress!, pin.count) == 0 { return offset }
                    position = offset + 1
                }
                return nil
            }
        }
    }
}
