import Foundation
import LoomStore

/// Class labels for a flat validation folder (ImageNet ships `val/*.JPEG` with no class
/// folders), by image name.
///
/// Two forms are read:
/// - Kaggle's `LOC_val_solution.csv`: a header `ImageId,PredictionString`, then rows like
///   `ILSVRC2012_val_00000001,n01751748 43 51 480 340 n01751748 ...`. The first token of the
///   prediction string is the image's wnid (every box of an image has the same class).
/// - One wnid per line in image order, line N labelling `ILSVRC2012_val_<N, 8 digits>` (the
///   form of TensorFlow's `imagenet_2012_validation_synset_labels.txt`).
///
/// The devkit's `ILSVRC2012_validation_ground_truth.txt` is refused: it holds ILSVRC2012_ID
/// numbers (1...1000) whose wnids are listed only in the devkit's `meta.mat`, and that order is
/// not the sorted wnid order, so no mapping can be guessed; a wrong guess would silently mislabel
/// every image.
public struct ValLabels: Sendable {
    public static let kaggleFileName = "LOC_val_solution.csv"
    public var path: String
    /// wnid by image id (the file name without its extension, as the CSV names images).
    public var wnids: [ExactName: String]

    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw IngestError(IngestError.unreadableCode(path), "cannot read validation labels file", path: path)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw IngestError(.invalidInput, "validation labels file is not UTF-8 text", path: path)
        }
        try self.init(text: text, path: path)
    }

    public init(text: String, path: String = "<validation labels>") throws {
        self.path = path
        var lines = TextLines.split(text)
        while lines.last?.isEmpty == true { lines.removeLast() }
        guard let header = lines.first else { throw IngestError(.invalidInput, "validation labels file is empty", path: path) }
        var first = String(header)
        if first.hasPrefix("\u{FEFF}") { first.removeFirst() }
        if first.split(separator: ",", maxSplits: 1).first.map({ $0.trimmingCharacters(in: .whitespaces) }) == "ImageId" {
            wnids = try Self.solutionCSV(lines.dropFirst(), path: path)
        } else {
            wnids = try Self.lineList([Substring(first)] + lines.dropFirst(), path: path)
        }
    }

    /// The Kaggle file in ROOT or up to three folders above it, nearest first.
    public static func find(root: String) -> String? {
        NearbyFile.find(kaggleFileName, near: root)
    }

    /// The wnid of the image in file `name` (`ILSVRC2012_val_00000001.JPEG`), matched by its
    /// whole name or by its name without the extension.
    public func wnid(forFileNamed name: String) -> String? {
        if let wnid = wnids[ExactName(name)] { return wnid }
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return nil }
        return wnids[ExactName(String(name[..<dot]))]
    }

    private static func solutionCSV(_ rows: ArraySlice<Substring>, path: String) throws -> [ExactName: String] {
        var wnids: [ExactName: String] = [:]
        for (offset, row) in rows.enumerated() where !row.isEmpty {
            let line = offset + 2
            let fields = row.split(separator: ",", maxSplits: 1, omittingEmptySubsequences: false)
            let id = fields[0].trimmingCharacters(in: .whitespaces)
            guard fields.count == 2, !id.isEmpty,
                  let wnid = fields[1].split(whereSeparator: { $0 == " " || $0 == "\t" }).first.map(String.init) else {
                throw IngestError(.invalidInput, "line \(line): expected `ImageId,PredictionString` with the wnid first, got \"\(row)\"", path: path)
            }
            guard wnids.updateValue(wnid, forKey: ExactName(id)) == nil else {
                throw IngestError(.invalidInput, "line \(line): image \(id) is labelled twice", path: path)
            }
        }
        return wnids
    }

    private static func lineList(_ lines: [Substring], path: String) throws -> [ExactName: String] {
        var wnids: [ExactName: String] = [:]
        for (index, raw) in lines.enumerated() {
            let token = raw.trimmingCharacters(in: .whitespaces)
            guard !token.isEmpty, !token.contains(where: { $0 == " " || $0 == "\t" || $0 == "," }) else {
                throw IngestError(.invalidInput,
                    "line \(index + 1): expected Kaggle's LOC_val_solution.csv (header `ImageId,PredictionString`) "
                        + "or one wnid per line, got \"\(raw)\"", path: path)
            }
            if token.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) {
                throw IngestError(.invalidInput,
                    "holds ILSVRC2012_ID numbers (the devkit's ILSVRC2012_validation_ground_truth.txt); their wnids are "
                        + "listed only in the devkit's meta.mat, in an order that is not the sorted wnid order, so they "
                        + "cannot be mapped safely. Use LOC_val_solution.csv (Kaggle's ImageNet download) or a file "
                        + "with one wnid per line in image order (imagenet_2012_validation_synset_labels.txt)", path: path)
            }
            let number = String(index + 1)
            wnids[ExactName("ILSVRC2012_val_" + String(repeating: "0", count: max(0, 8 - number.count)) + number)] = token
        }
        return wnids
    }
}
