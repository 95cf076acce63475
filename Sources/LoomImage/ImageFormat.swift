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
        throw ImageError(.notAnImage, "not an image (\(kind(of: bytes))); Loom reads JPEG and PNG")
    }

    /// What non-image bytes look like, in words: a reason must say what a file is without
    /// quoting it (a link in a dataset folder may point at a private file).
    static func kind(of bytes: UnsafeRawBufferPointer) -> String {
        func starts(with prefix: [UInt8]) -> Bool { bytes.count >= prefix.count && zip(bytes, prefix).allSatisfy { $0 == $1 } }
        let known: [(String, [UInt8])] = [
            ("a PDF document", Array("%PDF".utf8)), ("a ZIP archive", [0x50, 0x4B, 0x03, 0x04]),
            ("gzip data", [0x1F, 0x8B]), ("an ELF executable", [0x7F, 0x45, 0x4C, 0x46]),
        ]
        if let (name, _) = known.first(where: { starts(with: $0.1) }) { return name }
        return isText(bytes.prefix(512)) ? "text" : "binary data"
    }

    /// Whether `head` reads as UTF-8 text: no control bytes other than whitespace, and valid
    /// UTF-8 except perhaps for a character cut off at the end.
    static func isText(_ head: Slice<UnsafeRawBufferPointer>) -> Bool {
        let allowed: Set<UInt8> = [0x09, 0x0A, 0x0C, 0x0D]
        guard !head.contains(where: { ($0 < 0x20 && !allowed.contains($0)) || $0 == 0x7F }) else { return false }
        for cut in 0..<min(4, head.count) {
            if String(validating: head.dropLast(cut), as: UTF8.self) != nil { return true }
        }
        return false
    }
}
