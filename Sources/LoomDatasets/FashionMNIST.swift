import Foundation
import LoomImage

/// Zalando's Fashion-MNIST (70,000 28x28 grayscale clothing images in 10 classes), as Debian's
/// `dataset-fashion-mnist` package ships it, turned into the ImageNet-style folder layout that
/// Loom ingests.
///
/// Loom assigns labels by sorted folder name, so an ingested export numbers the classes
/// alphabetically (`ankle_boot` = 0, ... `tshirt` = 9), not in Fashion-MNIST's order; the folder
/// ids are stable, which is what matters for comparing runs.
public enum FashionMNIST {
    /// One class: its Fashion-MNIST label, the folder it is exported to, and a name for people.
    public struct Class: Sendable, Equatable, Codable {
        public var label: Int
        /// Lowercase ASCII with underscores, so it is a safe folder name everywhere and survives
        /// JSON snake-case key conversion unchanged.
        public var folder: String
        public var displayName: String
    }

    /// The ten classes, indexed by Fashion-MNIST label.
    public static let classes: [Class] = [
        Class(label: 0, folder: "tshirt", displayName: "T-shirt/top"),
        Class(label: 1, folder: "trouser", displayName: "Trouser"),
        Class(label: 2, folder: "pullover", displayName: "Pullover"),
        Class(label: 3, folder: "dress", displayName: "Dress"),
        Class(label: 4, folder: "coat", displayName: "Coat"),
        Class(label: 5, folder: "sandal", displayName: "Sandal"),
        Class(label: 6, folder: "shirt", displayName: "Shirt"),
        Class(label: 7, folder: "sneaker", displayName: "Sneaker"),
        Class(label: 8, folder: "bag", displayName: "Bag"),
        Class(label: 9, folder: "ankle_boot", displayName: "Ankle boot"),
    ]

    /// Where Debian's `dataset-fashion-mnist` installs the files.
    public static let defaultSourceDirectory = "/usr/share/datasets/fashion-mnist"

    /// Side of every Fashion-MNIST image; a file with another size is not this dataset.
    public static let side = 28

    /// Name of the ImageNet-style class list written at the export's root.
    public static let mappingFileName = "LOC_synset_mapping.txt"

    /// The IDX files an export reads, relative to the source directory: images and labels for
    /// `train` (from the 60,000-image training set) and `val` (from the 10,000-image test set).
    static let splits: [(name: String, prefix: String)] = [("train", "train"), ("val", "t10k")]

    /// The four source files, as paths under `sourceDirectory`.
    public static func sourceFiles(in sourceDirectory: String = defaultSourceDirectory) -> [String] {
        splits.flatMap { (split) in
            [imagesPath(sourceDirectory, split.prefix), labelsPath(sourceDirectory, split.prefix)]
        }
    }

    /// Writes `train/<folder>/<index>.png`, `val/<folder>/<index>.png` and
    /// `LOC_synset_mapping.txt` under `outputDirectory`.
    ///
    /// Each split takes the first `trainPerClass` / `valPerClass` images of every class in file
    /// order (nil: all of them), so a small export is a prefix of a larger one. File names are
    /// the image's index in the IDX file, zero-padded (`train/trouser/00016.png`), so they never
    /// change between runs. Files already there with the same size are left alone, which makes a
    /// re-run cheap and writes nothing. Files from an earlier, larger export are not removed.
    /// - Throws: `DatasetError` naming the file when a source file is missing or damaged, or an
    ///   output file cannot be written. A missing file's message says which package to install.
    public static func export(
        from sourceDirectory: String = defaultSourceDirectory, to outputDirectory: String,
        trainPerClass: Int?, valPerClass: Int?
    ) throws -> ExportSummary {
        precondition((trainPerClass ?? 0) >= 0 && (valPerClass ?? 0) >= 0, "per-class counts must not be negative")
        for path in sourceFiles(in: sourceDirectory) where !FileManager.default.fileExists(atPath: path) {
            throw DatasetError(
                "Fashion-MNIST file not found; install it with `apt-get install dataset-fashion-mnist`", path: path)
        }
        let root = URL(fileURLWithPath: outputDirectory).standardizedFileURL.path
        try OutputFile.makeDirectory(root)
        let train = try exportSplit(splits[0], sourceDirectory: sourceDirectory, root: root, perClass: trainPerClass)
        let val = try exportSplit(splits[1], sourceDirectory: sourceDirectory, root: root, perClass: valPerClass)
        _ = try OutputFile.store(Array(mappingText.utf8), directory: root, name: mappingFileName)
        return ExportSummary(
            dataset: "fashion-mnist", outputDirectory: root, mappingFile: root + "/" + mappingFileName, train: train, val: val)
    }

    /// ImageNet's `LOC_synset_mapping.txt` form, `<folder> <display name>` per line, in sorted
    /// folder order as ImageNet's is, so line N is the class Loom numbers N.
    static var mappingText: String {
        classes.sorted { $0.folder < $1.folder }.map { "\($0.folder) \($0.displayName)\n" }.joined()
    }

    private static func exportSplit(
        _ split: (name: String, prefix: String), sourceDirectory: String, root: String, perClass: Int?
    ) throws -> ExportSummary.Split {
        let (name, prefix) = split
        let labelsFile = labelsPath(sourceDirectory, prefix)
        let imagesFile = imagesPath(sourceDirectory, prefix)
        // Zero per class means the split is not wanted: do not spend a second decompressing it.
        if perClass == 0 {
            return ExportSummary.Split(name: name, source: imagesFile, images: 0, written: 0, unchanged: 0, perClass: [:])
        }
        let labels = try IDXFile(contentsOf: labelsFile, expecting: .labels)
        // Check the labels before decompressing 47 MB of images they may not match.
        if let bad = labels.bytes.firstIndex(where: { Int($0) >= classes.count }) {
            throw DatasetError("label \(labels.bytes[bad]) of item \(bad) is not a Fashion-MNIST class (0-9)", path: labelsFile)
        }
        let images = try IDXFile(contentsOf: imagesFile, expecting: .images)
        guard images.rows == side, images.columns == side else {
            throw DatasetError("images are \(images.columns)x\(images.rows), Fashion-MNIST's are \(side)x\(side)", path: imagesFile)
        }
        guard images.count == labels.count else {
            throw DatasetError("holds \(images.count) images but \(labelsFile) holds \(labels.count) labels", path: imagesFile)
        }

        let limit = perClass ?? Int.max
        let splitDirectory = root + "/" + name
        let digits = max(5, String(max(images.count - 1, 0)).count)
        var taken = [Int](repeating: 0, count: classes.count)
        var directories = [String?](repeating: nil, count: classes.count)
        var full = 0
        var written = 0
        var unchanged = 0
        for index in 0..<images.count {
            if full == classes.count { break }
            let label = Int(labels.bytes[index])
            guard taken[label] < limit else { continue }
            taken[label] += 1
            if taken[label] == limit { full += 1 }
            // Folders are made on first use, so a split with no images leaves no empty classes.
            let directory: String
            if let made = directories[label] {
                directory = made
            } else {
                directory = splitDirectory + "/" + classes[label].folder
                try OutputFile.makeDirectory(directory)
                directories[label] = directory
            }
            let png = try images.withItem(index) { (pixels) in
                try PNGCodec.encode(pixels, width: side, height: side, channels: 1)
            }
            if try OutputFile.store(png, directory: directory, name: paddedIndex(index, digits: digits) + ".png") {
                written += 1
            } else {
                unchanged += 1
            }
        }
        var counts: [String: Int] = [:]
        for (label, count) in taken.enumerated() where count > 0 { counts[classes[label].folder] = count }
        return ExportSummary.Split(
            name: name, source: imagesFile, images: written + unchanged, written: written, unchanged: unchanged,
            perClass: counts)
    }

    private static func imagesPath(_ directory: String, _ prefix: String) -> String {
        directory + "/" + prefix + "-images-idx3-ubyte.gz"
    }

    private static func labelsPath(_ directory: String, _ prefix: String) -> String {
        directory + "/" + prefix + "-labels-idx1-ubyte.gz"
    }

    /// `16` with 5 digits is `00016`: fixed width keeps names sorting in file order.
    private static func paddedIndex(_ index: Int, digits: Int) -> String {
        let text = String(index)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }
}
