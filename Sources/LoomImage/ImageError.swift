/// Why an image could not be read, decoded or encoded.
///
/// `reason` is written for people: ingest reports it next to the file's path, so it says what is
/// wrong with the bytes ("truncated JPEG: Premature end of JPEG file"), not which call failed.
public struct ImageError: Error, Equatable, Sendable, CustomStringConvertible {
    public struct Code: RawRepresentable, Hashable, Sendable {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        /// Zero bytes.
        public static let empty = Code(rawValue: "empty")
        /// The bytes are not an image format at all (text, an archive, ...).
        public static let notAnImage = Code(rawValue: "not-an-image")
        /// A real image format that Loom does not decode (GIF, WebP, BMP, TIFF).
        public static let unsupportedFormat = Code(rawValue: "unsupported-format")
        /// The header is unreadable or inconsistent.
        public static let badHeader = Code(rawValue: "bad-header")
        /// The header claims more pixels than the decode limit allows.
        public static let tooLarge = Code(rawValue: "too-large")
        /// The header was fine but the compressed data is cut short or corrupt.
        public static let corruptData = Code(rawValue: "corrupt-data")
        /// The caller asked for something the codec cannot do (an output size of zero, ...).
        public static let invalidRequest = Code(rawValue: "invalid-request")
        /// Encoding failed.
        public static let encodeFailed = Code(rawValue: "encode-failed")
    }

    public var code: Code
    public var reason: String

    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { reason }
}
