import Foundation
import LoomStore

/// The classes to ingest (`--classes FILE`), for subsets such as ImageNet-100: one class folder
/// name (a wnid) per line; blank lines and `#` comments are ignored. Names are matched by their
/// bytes, as the folders are (see ``ExactName``).
public struct ClassSubset: Sendable {
    public var path: String
    public var names: Set<ExactName>
    /// Where each name is first written, for errors that point at the line.
    var lines: [ExactName: Int]

    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw IngestError(IngestError.unreadableCode(path), "cannot read classes file", path: path)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw IngestError(.invalidInput, "classes file is not UTF-8 text", path: path)
        }
        try self.init(text: text, path: path)
    }

    public init(text: String, path: String = "<classes>") throws {
        self.path = path
        names = []
        lines = [:]
        for (index, rawLine) in TextLines.split(text).enumerated() {
            var line = Substring(rawLine)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            let name = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if name.isEmpty { continue }
            let exact = ExactName(name)
            if names.insert(exact).inserted { lines[exact] = index + 1 }
        }
        guard !names.isEmpty else { throw IngestError(.invalidInput, "classes file names no classes", path: path) }
    }

    /// Fails on the first name (in file order) that is not a class folder of the dataset.
    func check(found classes: Set<ExactName>, root: String) throws {
        for (name, line) in lines.sorted(by: { $0.value < $1.value }) where !classes.contains(name) {
            throw IngestError(.notFound, "line \(line): no class folder named \"\(name)\" below \(root)", path: path)
        }
    }
}
