/// A name (class folder, file path, split) compared, hashed and ordered by its UTF-8 bytes.
///
/// Swift's `String` compares by Unicode canonical equivalence: "café" spelled with U+00E9 and
/// with "e" + U+0301 are equal strings, and `<` orders normalized scalars. The file system and
/// the catalog's TEXT columns compare bytes, so those two spellings are two folders on disk and
/// two rows in SQLite; a `String`-keyed dictionary would merge them. Keys built from names use
/// this type instead. Its order is byte order, which for UTF-8 is code-point order: the order
/// Python's `sorted()` gives, and so the order torchvision's `ImageFolder` labels classes in.
public struct ExactName: Hashable, Comparable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let string: String

    public init(_ string: String) {
        self.string = string
    }

    public init(stringLiteral value: String) {
        self.init(value)
    }

    public static func == (a: ExactName, b: ExactName) -> Bool {
        a.string.utf8.count == b.string.utf8.count && a.string.utf8.elementsEqual(b.string.utf8)
    }

    public static func < (a: ExactName, b: ExactName) -> Bool {
        a.string.utf8.lexicographicallyPrecedes(b.string.utf8)
    }

    public func hash(into hasher: inout Hasher) {
        // The same bytes must feed the hasher the same way whether or not the storage is contiguous.
        let hashed: Void? = string.utf8.withContiguousStorageIfAvailable { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        if hashed == nil { Array(string.utf8).withUnsafeBytes { hasher.combine(bytes: $0) } }
        hasher.combine(string.utf8.count)
    }

    public var description: String { string }
}
