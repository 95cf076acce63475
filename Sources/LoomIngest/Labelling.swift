import LoomStore

/// Gives scanned files their classes from label files, after the walk: a `--labels-csv` row
/// overrides the class folder; files directly in a `val` folder take their class from the
/// validation labels (``ValLabels``). A label must name a class folder of the dataset; one that
/// names a folder left out by `--classes` skips the file (counted, not an error).
struct Labelling {
    static let labelledSplits: Set<ExactName> = ["val", "validation"]

    var skipped = 0
    var valLabelsPath: String?

    /// - Parameter valLabels: the validation labels, looked up only when loose val files exist.
    mutating func apply(to scan: inout DatasetScanner.Result, csv: LabelsCSV?, valLabels: () throws -> ValLabels?) throws {
        var loose = scan.loose
        scan.loose = []
        if let csv {
            let files = scan.files
            scan.files = []
            for file in files {
                if let wnid = csv.wnids[ExactName(file.path)] {
                    place(file, wnid: wnid, source: "column \(csv.column) of \(csv.path)", in: &scan)
                } else {
                    scan.rejected.append(Rejection(path: file.path, reason: "no row in \(csv.path)"))
                }
            }
            loose = loose.filter { file in
                guard let wnid = csv.wnids[ExactName(file.path)] else { return true }
                place(file, wnid: wnid, source: "column \(csv.column) of \(csv.path)", in: &scan)
                return false
            }
        }
        guard !loose.isEmpty else { return }
        let labelled = loose.contains { Self.labelledSplits.contains(ExactName($0.split)) }
        let labels = labelled ? try valLabels() : nil
        valLabelsPath = labels?.path
        let filedSplits = Set(scan.files.map { ExactName($0.split) })
        var unlabelled: [ExactName: [SourceFile]] = [:]
        for file in loose {
            guard let labels, Self.labelledSplits.contains(ExactName(file.split)) else {
                unlabelled[ExactName(file.split), default: []].append(file)
                continue
            }
            if let wnid = labels.wnid(forFileNamed: file.name) {
                place(file, wnid: wnid, source: labels.path, in: &scan)
            } else {
                scan.rejected.append(Rejection(path: file.path, reason: "no label for this image in \(labels.path)"))
            }
        }
        for (split, files) in unlabelled.sorted(by: { $0.key < $1.key }) {
            let hint = Self.labelledSplits.contains(split)
                ? " (ImageNet's flat val folder: put \(ValLabels.kaggleFileName) in ROOT or up to \(NearbyFile.searchDepth) folders above it, or name a labels file with --val-labels)"
                : ""
            if filedSplits.contains(split) {
                for file in files {
                    scan.rejected.append(Rejection(path: file.path, reason: "not inside a class folder" + hint))
                }
            } else {
                // A flat split as shipped (ImageNet's test images have no public labels) is one
                // problem, not one per image.
                scan.rejected.append(Rejection(
                    path: split.string,
                    reason: "holds \(files.count) files and no class folders, and no labels for them; none ingested" + hint))
            }
        }
    }

    private mutating func place(_ file: SourceFile, wnid: String, source: String, in scan: inout DatasetScanner.Result) {
        let exact = ExactName(wnid)
        if scan.classes.contains(exact) {
            var labelled = file
            labelled.wnid = wnid
            scan.files.append(labelled)
        } else if scan.unlisted.contains(exact) {
            skipped += 1
        } else {
            scan.rejected.append(Rejection(path: file.path, reason: "label \(wnid) (from \(source)) names no class folder of the dataset"))
        }
    }
}
