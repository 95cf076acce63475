import CArchive
import Glibc
import LoomStore

/// Reads tar archives (plain or compressed, any format libarchive knows) one member after
/// another with libarchive: Loom parses no tar headers itself.
public enum TarReader {
    /// A regular-file member: its name in the archive, its size, and its bytes for the asking
    /// (a member whose bytes are not asked for is skipped, not read, where the archive allows).
    public struct Member {
        public var name: String
        public var size: Int
        fileprivate let archive: OpaquePointer
        fileprivate let path: String

        public func contents() throws -> [UInt8] {
            var bytes = [UInt8](repeating: 0, count: size)
            var done = 0
            while done < size {
                let count = bytes.withUnsafeMutableBytes { archive_read_data(archive, $0.baseAddress! + done, size - done) }
                if count < 0 { throw TarReader.failure(archive, path, "read \(name)") }
                if count == 0 { throw TarError(.invalidInput, "member \(name) ends after \(done) of its \(size) bytes", path: path) }
                done += count
            }
            return bytes
        }
    }

    /// Calls `body` for every regular file in the archive at `path`, in archive order.
    public static func forEachMember(_ path: String, _ body: (Member) throws -> Void) throws {
        try read(path, open: { archive in
            guard archive_read_open_filename(archive, path, 1 << 20) == ARCHIVE_OK else {
                throw failure(archive, path, "open", code: access(path, F_OK) == 0 ? .invalidInput : .notFound)
            }
        }, body)
    }

    /// Every regular file of the archive held in `bytes` (`name` says what it is in errors),
    /// by member name; a name that repeats keeps its last member, as extracting would.
    public static func members(of bytes: [UInt8], name: String) throws -> [String: [UInt8]] {
        var members: [String: [UInt8]] = [:]
        try bytes.withUnsafeBytes { raw in
            try read(name, open: { archive in
                guard archive_read_open_memory(archive, raw.baseAddress, raw.count) == ARCHIVE_OK else {
                    throw failure(archive, name, "open")
                }
            }) { members[$0.name] = try $0.contents() }
        }
        return members
    }

    private static func read(_ path: String, open: (OpaquePointer) throws -> Void, _ body: (Member) throws -> Void) throws {
        guard let archive = archive_read_new() else { throw TarError(.internal, "libarchive could not make a reader", path: path) }
        defer { archive_read_free(archive) }
        archive_read_support_filter_all(archive)
        archive_read_support_format_tar(archive)
        archive_read_support_format_gnutar(archive)
        try open(archive)
        var entry: OpaquePointer?
        while true {
            let status = archive_read_next_header(archive, &entry)
            if status == ARCHIVE_EOF { break }
            guard status == ARCHIVE_OK || status == ARCHIVE_WARN, let entry else { throw failure(archive, path, "read a header") }
            // AE_IFREG (0o100000): regular files only; directories, links and devices are not samples.
            guard archive_entry_filetype(entry) == 0o100000, let name = archive_entry_pathname(entry) else { continue }
            try body(Member(name: String(cString: name), size: Int(archive_entry_size(entry)), archive: archive, path: path))
        }
    }

    static func failure(_ archive: OpaquePointer, _ path: String, _ what: String, code: LoomErrorCode = .invalidInput) -> TarError {
        let reason = archive_error_string(archive).map { String(cString: $0) } ?? "unknown error"
        return TarError(code, "cannot \(what) as a tar archive: \(reason)", path: path)
    }
}
