import Foundation

/// Just enough XML for S3's answers (ListObjectsV2, multipart, errors): flat elements whose
/// text is entity-encoded, never nested in an element of the same name. A scanner, not a
/// parser, so the module needs no libxml2.
enum S3XML {
    /// The inner text of every `<tag>...</tag>` in `xml`, in order (attributes on the open tag allowed).
    static func elements(_ tag: String, in xml: Substring) -> [Substring] {
        var found: [Substring] = []
        var rest = xml[...]
        let close = "</\(tag)>"
        while let open = rest.range(of: "<\(tag)") {
            guard let end = rest[open.upperBound...].firstIndex(of: ">") else { break }
            let before = rest[rest.index(before: end)]
            let next = rest[open.upperBound]
            guard next == ">" || next == " " || next == "/" else {
                rest = rest[open.upperBound...]  // `<KeyCount>` while looking for `<Key>`
                continue
            }
            if before == "/" {  // `<Tag/>`: present and empty
                found.append(rest[end..<end])
                rest = rest[rest.index(after: end)...]
                continue
            }
            let contentStart = rest.index(after: end)
            guard let closing = rest[contentStart...].range(of: close) else { break }
            found.append(rest[contentStart..<closing.lowerBound])
            rest = rest[closing.upperBound...]
        }
        return found
    }

    /// The decoded text of the first `<tag>` in `xml`, or nil.
    static func value(_ tag: String, in xml: Substring) -> String? {
        elements(tag, in: xml).first.map(decode)
    }

    static func value(_ tag: String, in xml: String) -> String? {
        value(tag, in: xml[...])
    }

    /// Replaces the five named entities and numeric references.
    static func decode(_ text: Substring) -> String {
        guard text.contains("&") else { return String(text) }
        var out = ""
        var rest = text
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            guard let semicolon = rest[amp...].firstIndex(of: ";") else { break }
            let name = rest[rest.index(after: amp)..<semicolon]
            switch name {
            case "amp": out += "&"
            case "lt": out += "<"
            case "gt": out += ">"
            case "quot": out += "\""
            case "apos": out += "'"
            default:
                let number = name.hasPrefix("#x") ? UInt32(name.dropFirst(2), radix: 16)
                    : name.hasPrefix("#") ? UInt32(name.dropFirst(), radix: 10) : nil
                if let scalar = number.flatMap(Unicode.Scalar.init) {
                    out.unicodeScalars.append(scalar)
                } else {
                    out += rest[amp...semicolon]
                }
            }
            rest = rest[rest.index(after: semicolon)...]
        }
        return out + rest
    }

    /// `text` with `& < > " '` escaped, for request bodies.
    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(character)
            }
        }
        return out
    }
}
