/// The container format of an encoded image, told from its first bytes (never from a file name).
public enum ImageFormat: String, Sendable, Codable, CaseIterable {
    case jpeg
    case png

    /// The IANA media type, used for HTTP and for the blob catalog.
    public var mediaType: String {
        switch self {
        case .jpeg: "image/jpeg"
        case .png: "image/png"
        }
    }

    /// Identifies the format of `bytes`.
    ///
    /// - Throws: `ImageError.empty`, `.unsupportedFormat` for image formats Loom recognises but
    ///   does not decode, `.notAnImage` for everything else.
    public static func sniff(_ bytes: UnsafeRawBufferPointer) throws -> ImageFormat {
        guard !bytes.isEmpty else { throw ImageError(.empty, "empty file (0 bytes)") }
        func starts(with prefix: [UInt8], at offset: Int = 0) -> Bool {
            guard bytes.count >= offset + prefix.count else { return false }
            for (i, byte) in prefix.enumerated() where bytes[offset + i] != byte { return false }
            return true
        }
        if starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        if starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        let others: [(String, [UInt8], Int)] = [
            ("GIF", Array("GIF8".utf8), 0),
            ("WebP", Array("WEBP".utf8), 8),
            ("BMP", Array("BM".utf8), 0),
            ("TIFF", [0x49, 0x49, 0x2A, 0x00], 0),
            ("TIFF", [0x4D, 0x4D, 0x00, 0x2A], 0),
        ]
        for (name, magic, offset) in others where starts(with: magic, at: offset) {
            throw ImageError(.unsupportedFormat, "unsupported image format \(name) (Loom reads JPEG and PNG)")
        }
        if bytes.count >= 2, bytes[0] == 0xFF, bytes[1] == 0xD8 {
            throw ImageError(.badHeader, "JPEG start-of-image marker not followed by a marker")
        }
        throw ImageError(.notAnImage, "not a JPEG or PNG file (starts with \(preview(bytes)))")
    }

    /// The first bytes as text when printable, else as hex, for error messages.
    static func preview(_ bytes: UnsafeRawBufferPointer) -> String {
        let head = Array(bytes.prefix(12))
        if head.allSatisfy({ (0x20..<0x7F).contains($0) || $0 == 0x0A || $0 == 0x09 }) {
            let text = head.map { byte -> String in
                switch byte {
                case 0x0A: "\\n"
                case 0x09: "\\t"
                default: String(UnicodeScalar(byte))
                }
            }.joined()
            return "\"\(text)\""
        }
        return head.map { byte in
            let hex = String(byte, radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }.joined(separator: " ")
    }
}
