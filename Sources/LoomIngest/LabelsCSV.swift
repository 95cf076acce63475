import Foundation
import LoomStore

/// Per-file labels from a CSV with a header row, a `path` column (relative to ROOT, '/'-separated,
/// as `loom ls` shows paths) and a label column chosen by name: the form of fast.ai's
/// `noisy_imagenette.csv` (`path,noisy_labels_0,noisy_labels_1,...,is_valid`), whose columns give
/// each image's wnid at 0, 1, 5, 25 and 50 percent label noise. Fields are plain (no quoting), as
/// in that file.
public struct LabelsCSV: Sendable {
    public var path: String
    public var column: String
    /// wnid by file path.
    public var wnids: [ExactName: String]

    public init(path: String, column: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw IngestError(IngestError.unreadableCode(path), "cannot read labels CSV", path: path)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw IngestError(.invalidInput, "labels CSV is not UTF-8 text", path: path)
        }
        try self.init(text: text, path: path, column: column)
    }

    public init(text: String, path: String = "<labels csv>", column: String) throws {
        self.path = path
        self.column = column
        var lines = TextLines.split(text)
        while lines.last?.isEmpty == true { lines.removeLast() }
        guard let headerLine = lines.first else { throw IngestError(.invalidInput, "labels CSV is empty", path: path) }
        var header = headerLine.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        if header.first?.hasPrefix("\u{FEFF}") == true { header[0].removeFirst() }
        guard let pathIndex = header.firstIndex(of: "path") else {
            throw IngestError(.invalidInput, "the header has no `path` column (columns: \(header.joined(separator: ", ")))", path: path)
        }
        guard let labelIndex = header.firstIndex(of: column) else {
            throw IngestError(.invalidInput, "the header has no column \"\(column)\" (columns: \(header.joined(separator: ", ")))", path: path)
        }
        wnids = [:]
        for (offset, row) in lines.dropFirst().enumerated() where !row.isEmpty {
            let line = offset + 2
            let fields = row.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count == header.count, !fields[pathIndex].isEmpty, !fields[labelIndex].isEmpty else {
                throw IngestError(.invalidInput, "line \(line): expected \(header.count) fields with a path and a \(column), got \"\(row)\"", path: path)
            }
            guard wnids.updateValue(fields[labelIndex], forKey: ExactName(fields[pathIndex])) == nil else {
                throw IngestError(.invalidInput, "line \(line): \(fields[pathIndex]) is labelled twice", path: path)
            }
        }
    }
}
