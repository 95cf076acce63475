import Foundation

/// Label and name files that datasets keep beside their image folders. Kaggle's ImageNet
/// download keeps `LOC_synset_mapping.txt` and `LOC_val_solution.csv` three folders above the
/// folder to ingest (`ILSVRC/Data/CLS-LOC`), so the search goes that far up and no further.
enum NearbyFile {
    static let searchDepth = 3

    /// The regular file `name` in `root` or up to ``searchDepth`` folders above it, nearest first,
    /// with links resolved.
    static func find(_ name: String, near root: String) -> String? {
        var directory = root
        for _ in 0...searchDepth {
            let candidate = directory + "/" + name
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue {
                return DatasetScanner.resolved(candidate) ?? candidate
            }
            // "/.." goes to the parent of where ROOT really is, through any link.
            directory += "/.."
        }
        return nil
    }
}
