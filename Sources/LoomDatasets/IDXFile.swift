/// One IDX file, the format of MNIST and Fashion-MNIST: a big-endian header followed by a flat
/// array of unsigned bytes, usually gzip'ed (`train-images-idx3-ubyte.gz`).
///
/// The whole payload is read into memory (47 MB for Fashion-MNIST's training images): export
/// walks it in order once, and one allocation is simpler and faster than streaming records.
public struct IDXFile: Sendable {
    /// The two layouts Fashion-MNIST uses. Other IDX element types (int32, float, ...) are refused.
    public enum Kind: Sendable, Equatable {
        /// Magic `0x00000801`: a count, then one byte per item.
        case labels
        /// Magic `0x00000803`: a count, rows and columns, then `rows * columns` bytes per item.
        case images

        /// Bytes 0-1 are zero, byte 2 is the element type (0x08 = unsigned byte), byte 3 the
        /// number of dimensions.
        var magic: UInt32 { self == .labels ? 0x0000_0801 : 0x0000_0803 }
        var dimensions: Int { self == .labels ? 1 : 3 }
        var name: String { self == .labels ? "labels" : "images" }
    }

    /// Largest payload accepted, so a corrupt header cannot make us allocate gigabytes.
    public static let defaultMaxBytes = 1 << 30

    public let path: String
    public let kind: Kind
    /// Number of items (images or labels).
    public let count: Int
    /// Image height; 1 for labels.
    public let rows: Int
    /// Image width; 1 for labels.
    public let columns: Int
    /// All items back to back, `count * itemSize` bytes.
    public let bytes: [UInt8]

    /// Bytes per item: `rows * columns` for images, 1 for labels.
    public var itemSize: Int { rows * columns }

    /// Reads and checks an IDX file, gzip'ed or not.
    /// - Throws: `DatasetError` naming `path` when the file is missing, is not gzip-readable,
    ///   has the wrong magic, or holds fewer or more bytes than its header promises.
    public init(contentsOf path: String, expecting kind: Kind, maxBytes: Int = IDXFile.defaultMaxBytes) throws {
        let reader = try GzipReader(path: path)
        let header = try Self.readHeader(reader, kind: kind)
        let sizes = header.dropFirst()
        var total = header[0]
        for size in sizes {
            let (product, overflow) = total.multipliedReportingOverflow(by: size)
            guard !overflow, product <= maxBytes else {
                throw DatasetError(
                    "header claims \(header.map(String.init).joined(separator: "x")) bytes, over the limit of \(maxBytes)",
                    path: path)
            }
            total = product
        }
        guard total <= maxBytes else {
            throw DatasetError("header claims \(total) items, over the limit of \(maxBytes) bytes", path: path)
        }

        var failure: (any Error)?
        let bytes = [UInt8](unsafeUninitializedCapacity: total) { (buffer, initialized) in
            do {
                initialized = try reader.read(into: UnsafeMutableRawBufferPointer(buffer))
            } catch {
                failure = error
                initialized = 0
            }
        }
        if let failure { throw failure }
        guard bytes.count == total else {
            throw DatasetError(Self.shortMessage(reader, got: bytes.count, of: total, header: header, kind: kind), path: path)
        }
        // Read on to the end: zlib checks the gzip CRC only there, and extra bytes mean the
        // header does not describe this file.
        var probe: UInt8 = 0
        let extra = try withUnsafeMutableBytes(of: &probe) { try reader.read(into: $0) }
        if extra != 0 {
            throw DatasetError("data continues past the \(total) bytes the header describes", path: path)
        }
        if let message = reader.zlibError {
            throw DatasetError("cannot decompress: \(message)", path: path)
        }

        self.path = path
        self.kind = kind
        self.count = header[0]
        self.rows = kind == .images ? header[1] : 1
        self.columns = kind == .images ? header[2] : 1
        self.bytes = bytes
    }

    /// Calls `body` with the bytes of item `index` (one image's pixels, row-major).
    public func withItem<R>(_ index: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        precondition(index >= 0 && index < count, "IDX item \(index) out of range 0..<\(count)")
        return try bytes.withUnsafeBytes { (all) in
            try body(UnsafeRawBufferPointer(rebasing: all[(index * itemSize)..<((index + 1) * itemSize)]))
        }
    }

    /// The magic number and dimension sizes, checked against `kind`.
    /// - Returns: the sizes, item count first.
    private static func readHeader(_ reader: borrowing GzipReader, kind: Kind) throws -> [Int] {
        let length = 4 + 4 * kind.dimensions
        var raw = [UInt8](repeating: 0, count: length)
        let got = try raw.withUnsafeMutableBytes { try reader.read(into: $0) }
        guard got >= 4 else {
            throw DatasetError(
                reader.zlibError.map { "cannot decompress: \($0)" } ?? "file too short for an IDX header (\(got) bytes)",
                path: reader.path)
        }
        let magic = bigEndian(raw, at: 0)
        guard magic == kind.magic else {
            let other: Kind = kind == .labels ? .images : .labels
            let hint = magic == other.magic ? " (this is an IDX \(other.name) file)" : (magic >> 16 != 0 ? " (not an IDX file)" : "")
            throw DatasetError(
                "wrong magic number \(hex(magic)), expected \(hex(kind.magic)) for IDX \(kind.name)\(hint)", path: reader.path)
        }
        guard got == length else {
            throw DatasetError(
                reader.zlibError.map { "cannot decompress: \($0)" }
                    ?? "file ends inside the IDX header (\(got) of \(length) bytes)",
                path: reader.path)
        }
        let sizes = (0..<kind.dimensions).map { Int(bigEndian(raw, at: 4 + 4 * $0)) }
        if kind == .images, sizes[1] == 0 || sizes[2] == 0 {
            throw DatasetError("header gives an image size of \(sizes[1])x\(sizes[2])", path: reader.path)
        }
        return sizes
    }

    private static func shortMessage(_ reader: borrowing GzipReader, got: Int, of total: Int, header: [Int], kind: Kind) -> String {
        if let message = reader.zlibError { return "cannot decompress: \(message)" }
        let itemSize = total / max(header[0], 1)
        return "truncated: header promises \(header[0]) \(kind.name) (\(total) bytes) but the data ends after "
            + "\(got) bytes (\(got / max(itemSize, 1)) whole items)"
    }

    private static func bigEndian(_ raw: [UInt8], at offset: Int) -> UInt32 {
        raw[offset..<(offset + 4)].reduce(0) { ($0 << 8) | UInt32($1) }
    }

    private static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }
}
