import LoomStore

/// A POSIX ustar archive built in memory, member by member, the way WebDataset shards are
/// written: plain regular files, mode 0644, owner 0, modification time 0, so the same members
/// give the same bytes on every run (an export can then be checked against what a folder holds).
///
/// Reading is ``TarReader``'s, through libarchive.
public struct TarArchive {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    /// Bytes a member of `size` bytes takes: its header plus its data padded to 512.
    public static func memberSize(_ size: Int) -> Int { 512 + (size + 511) / 512 * 512 }

    /// Bytes the two zero blocks that end an archive take.
    public static let endSize = 1024

    /// Appends a regular file. `name` must fit ustar's fields: at most 100 bytes, or a prefix of
    /// at most 155 and a name of at most 100 split at a `/`.
    public mutating func append(name: String, contents: [UInt8]) throws {
        var header = [UInt8](repeating: 0, count: 512)
        let (prefix, base) = try Self.split(name)
        func put(_ text: [UInt8], at offset: Int) { header.replaceSubrange(offset..<offset + text.count, with: text) }
        func octal(_ value: Int, width: Int) -> [UInt8] {
            // width - 1 digits and a NUL, as GNU tar and Python's tarfile write them.
            let digits = String(value, radix: 8)
            return Array((String(repeating: "0", count: max(0, width - 1 - digits.count)) + digits).utf8) + [0]
        }
        guard contents.count < 1 << 33 else { throw TarError(.invalidInput, "\(contents.count) bytes is too large for a ustar member", path: name) }
        put(base, at: 0)
        put(octal(0o644, width: 8), at: 100)
        put(octal(0, width: 8), at: 108)
        put(octal(0, width: 8), at: 116)
        put(octal(contents.count, width: 12), at: 124)
        put(octal(0, width: 12), at: 136)
        put(Array(repeating: 0x20, count: 8), at: 148)  // the checksum field counts as spaces
        header[156] = UInt8(ascii: "0")
        put(Array("ustar".utf8) + [0], at: 257)
        put(Array("00".utf8), at: 263)
        put(prefix, at: 345)
        let checksum = header.reduce(0) { $0 + Int($1) }
        put(Array((String(repeating: "0", count: max(0, 6 - String(checksum, radix: 8).count)) + String(checksum, radix: 8)).utf8) + [0, 0x20],
            at: 148)
        bytes += header
        bytes += contents
        bytes += [UInt8](repeating: 0, count: (512 - contents.count % 512) % 512)
    }

    /// The archive with its end marker.
    public func finished() -> [UInt8] { bytes + [UInt8](repeating: 0, count: Self.endSize) }

    private static func split(_ name: String) throws -> (prefix: [UInt8], name: [UInt8]) {
        let utf8 = Array(name.utf8)
        guard !utf8.isEmpty, !utf8.contains(0) else { throw TarError(.invalidInput, "tar member name is empty or holds a NUL", path: name) }
        if utf8.count <= 100 { return ([], utf8) }
        for cut in utf8.indices.reversed() where utf8[cut] == UInt8(ascii: "/") {
            let prefix = Array(utf8[..<cut]), rest = Array(utf8[(cut + 1)...])
            if prefix.count <= 155 && rest.count <= 100 && !rest.isEmpty { return (prefix, rest) }
        }
        throw TarError(.invalidInput, "tar member name is too long for ustar (100 bytes, or 155 + 100 split at a /)", path: name)
    }
}
