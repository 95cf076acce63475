import Foundation
import Glibc

/// A `multipart/form-data` body (RFC 7578), parsed from memory.
///
/// Only what uploads need: each part's name, filename and bytes. The body was already bounded
/// by `--max-upload-bytes` before it got here.
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
            let headerText = String(decoding: body[position..<headerEnd], as: UTF8.self)
            let contentStart = headerEnd + 4
            guard let contentEnd = Self.find(separator, in: body, from: contentStart) else {
                throw ParseError(description: "malformed multipart body: the last part is not closed by its boundary (body cut short?)")
            }
            var part = Part(name: "", filename: nil, contentType: nil, bytes: body[contentStart..<contentEnd])
            for line in headerText.split(separator: "\r\n") {
                let pair = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard pair.count == 2 else { continue }
                switch pair[0].lowercased() {
                case "content-disposition":
                    let parameters = Self.dispositionParameters(pair[1])
                    part.name = parameters["name"] ?? ""
                    part.filename = parameters["filename"]
                case "content-type":
                    part.contentType = pair[1]
                default:
                    break
                }
            }
            parts.append(part)
            position = contentEnd + separator.count
        }
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
