import CArchive
import Glibc
import LoomStore

/// Reads tar archives (plain or compressed, any format libarchive knows) one member after
/// another with libarchive: Loom parses no tar headers itself.
enum TarReader {
    /// A regular-file member: its name in the archive, its size, and its bytes for the asking
    /// (a member whose bytes are not asked for is skipped, not read, where the archive allows).
    struct Member {
        var name: String
        var size: Int
        fileprivate let archive: OpaquePointer
        fileprivate let path: String

        func contents() throws -> [UInt8] {
            var bytes = [UInt8](repeating: 0, count: size)
            var done = 0
            while done < size {
                let count = bytes.withUnsafeMutableBytes { archive_read_data(archive, $0.baseAddress! + done, size - done) }
                if count < 0 { throw TarReader.failure(archive, path, "read \(name)") }
                if count == 0 { throw IngestError(.invalidInput, "member \(name) ends after \(done) of its \(size) bytes", path: path) }
                done += count
            }
            return bytes
        }
    }

    /// Calls `body` for every regular file in the archive at `path`, in archive order.
    static func forEachMember(_ path: String, _ body: (Member) throws -> Void) throws {
        guard let archive = archive_read_new() else { throw IngestError(.internal, "libarchive could not make a reader", path: path) }
        defer { archive_read_free(archive) }
        archive_read_support_filter_all(archive)
        archive_read_support_format_tar(archive)
        archive_read_support_format_gnutar(archive)
        guard archive_read_open_filename(archive, path, 1 << 20) == ARCHIVE_OK else {
            throw failure(archive, path, "open", code: access(path, F_OK) == 0 ? .invalidInput : .notFound)
        }
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

    static func failure(_ archive: OpaquePointer, _ path: String, _ what: String, code: LoomErrorCode = .invalidInput) -> IngestError {
        let reason = archive_error_string(archive).map { String(cString: $0) } ?? "unknown error"
        return IngestError(code, "cannot \(what) as a tar archive: \(reason)", path: path)
    }
}
