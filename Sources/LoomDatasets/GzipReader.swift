internal import CZlib
import Glibc

/// A gzip file opened for reading through zlib's `gz*` functions.
///
/// zlib does the decompression, the CRC check at the end of the stream, and reads a file that is
/// not gzip at all as plain bytes, so an already-unpacked IDX file works too. This wrapper turns
/// its `int` returns and `gzerror` strings into `DatasetError`s that name the file.
struct GzipReader: ~Copyable {
    let path: String
    private let file: gzFile

    init(path: String) throws {
        guard let file = gzopen(path, "rb") else {
            let code = errno
            let reason = code == ENOENT ? "file not found" : String(cString: strerror(code))
            throw DatasetError("cannot open: \(reason)", path: path)
        }
        // The default 8 KiB buffer costs a read(2) per 8 KiB of a 26 MB archive.
        _ = gzbuffer(file, 1 << 17)
        self.path = path
        self.file = file
    }

    deinit { gzclose(file) }

    /// Fills `buffer` unless the data ends first.
    /// - Returns: the bytes read, fewer than `buffer.count` only at the end of the data.
    /// - Throws: when zlib reports corrupt compressed data or a read error.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var done = 0
        while done < buffer.count {
            // gzread takes an `unsigned` length and returns an `int`, so go in chunks under 2 GiB.
            let chunk = UInt32(min(buffer.count - done, 1 << 30))
            let got = gzread(file, buffer.baseAddress! + done, chunk)
            if got < 0 { throw DatasetError("cannot decompress: \(zlibError ?? "read error")", path: path) }
            if got == 0 { break }
            done += Int(got)
        }
        return done
    }

    /// zlib's message for the last failure, or nil when there was none. A gzip stream cut short
    /// is reported here ("unexpected end of file") rather than by `gzread`, which just returns
    /// fewer bytes.
    var zlibError: String? {
        var code: Int32 = 0
        let message = gzerror(file, &code)
        guard code != Z_OK, let message else { return nil }
        // zlib prefixes the path we opened; DatasetError adds it already.
        let text = String(cString: message)
        return text.hasPrefix(path + ": ") ? String(text.dropFirst(path.count + 2)) : text
    }
}
