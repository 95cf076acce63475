import Foundation
import LoomStore

/// A class-names map in ImageNet's `LOC_synset_mapping.txt` form, one class per line:
/// `n01440764 tench, Tinca tinca`. The display name is the whole text after the id; the prompt
/// name is its first comma-separated part ("tench"), the unambiguous common name. To
/// disambiguate a polysemous class, write the prompt name you want first ("crane bird, crane").
/// Folder ids are matched by their bytes, as the folders themselves are (see ``ExactName``).
public struct ClassNamesFile: Sendable {
    public var names: [ExactName: (name: String, promptName: String)]

    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw IngestError(IngestError.unreadableCode(path), "cannot read class names file", path: path)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw IngestError(.invalidInput, "class names file is not UTF-8 text", path: path)
        }
        try self.init(text: text, path: path)
    }

    public init(text: String, path: String = "<class names>") throws {
        names = [:]
        for (index, rawLine) in TextLines.split(text).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
            guard parts.count == 2 else {
                throw IngestError(.invalidInput, "line \(index + 1): expected `<folder id> <class name>`, got \"\(line)\"", path: path)
            }
            let display = parts[1].trimmingCharacters(in: .whitespaces)
            let prompt = display.split(separator: ",").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? display
            let id = ExactName(parts[0])
            guard names[id] == nil else {
                throw IngestError(.invalidInput, "line \(index + 1): class \(parts[0]) is named twice", path: path)
            }
            names[id] = (display, prompt.isEmpty ? display : prompt)
        }
    }
}
