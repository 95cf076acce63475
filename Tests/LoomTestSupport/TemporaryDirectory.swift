import Foundation

/// A fresh directory under the system temporary directory, removed with everything in it when
/// the object is released.
///
/// Hold it in a local for the length of a test: `let dir = try TemporaryDirectory()`.
public final class TemporaryDirectory: Sendable {
    /// The directory's absolute path.
    public let path: String

    /// The directory's file URL.
    public var url: URL { URL(fileURLWithPath: path, isDirectory: true) }

    /// Creates `<tmp>/<prefix><UUID>`.
    /// - Throws: the file system's error when the directory cannot be created.
    public init(prefix: String = "loom-test-") throws {
        let base = FileManager.default.temporaryDirectory
        let url = base.appendingPathComponent(prefix + UUID().uuidString, isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        self.path = url.path
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// The absolute path of `relativePath` inside the directory (nothing is created).
    public func appending(_ relativePath: String) -> String {
        relativePath.isEmpty ? path : path + "/" + relativePath
    }

    /// Writes `bytes` to `relativePath`, creating intermediate directories.
    /// - Returns: the file's absolute path.
    @discardableResult
    public func write(_ bytes: [UInt8], to relativePath: String) throws -> String {
        let file = appending(relativePath)
        let parent = (file as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }

    /// Writes `text` as UTF-8 to `relativePath`, creating intermediate directories.
    /// - Returns: the file's absolute path.
    @discardableResult
    public func write(_ text: String, to relativePath: String) throws -> String {
        try write(Array(text.utf8), to: relativePath)
    }

    /// Creates `relativePath` and any missing parents.
    /// - Returns: the directory's absolute path.
    @discardableResult
    public func makeDirectory(_ relativePath: String) throws -> String {
        let directory = appending(relativePath)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }
}
