import ArgumentParser
import Foundation
import LoomDatasets

/// `loom dataset ...`: turns datasets that Debian packages ship into folders Loom can ingest, so
/// tests, benchmarks and demos need no download.
struct DatasetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dataset",
        abstract: "Prepare datasets that ship with the system",
        subcommands: [FashionMNISTCommand.self])
}

/// `loom dataset fashion-mnist OUT`: exports Fashion-MNIST as PNG files in ImageNet's
/// `train/<class>/` and `val/<class>/` layout.
struct FashionMNISTCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fashion-mnist",
        abstract: "Export Fashion-MNIST as PNG files in an ImageNet-style train/val layout",
        discussion: """
            Reads the IDX files of Debian's dataset-fashion-mnist package and writes \
            OUT/train/<class>/<index>.png (from the training set), OUT/val/<class>/<index>.png \
            (from the test set) and OUT/LOC_synset_mapping.txt. Files already there with the same \
            size are skipped, so running it again is cheap.
            """)

    @Argument(help: ArgumentHelp("Directory to write train/, val/ and LOC_synset_mapping.txt into.", valueName: "out"))
    var output: String

    @Option(help: ArgumentHelp("Training images per class, the first ones in file order (default: all 6,000).", valueName: "n"))
    var trainPerClass: Int?

    @Option(help: ArgumentHelp("Validation images per class, the first ones in file order (default: all 1,000).", valueName: "n"))
    var valPerClass: Int?

    @Option(help: ArgumentHelp("Directory holding the four *-ubyte.gz files.", valueName: "dir"))
    var source: String = FashionMNIST.defaultSourceDirectory

    @Flag(help: "Print the summary as JSON on stdout.")
    var json = false

    func validate() throws {
        for (flag, value) in [("--train-per-class", trainPerClass), ("--val-per-class", valPerClass)] {
            if let value, value < 0 { throw ValidationError("\(flag) must be 0 or more, not \(value)") }
        }
    }

    func run() throws {
        // Say what to install before anything is created: a missing package is the likely cause.
        if let missing = FashionMNIST.sourceFiles(in: source).first(where: { !FileManager.default.fileExists(atPath: $0) }) {
            throw DatasetError(
                "Fashion-MNIST not found; install it with `apt-get install dataset-fashion-mnist` (tools/setup does)",
                path: missing)
        }
        let summary = try FashionMNIST.export(
            from: source, to: output, trainPerClass: trainPerClass, valPerClass: valPerClass)
        if json {
            let encoder = Output.lineEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            try Output.jsonLine(summary, encoder: encoder)
        } else {
            Output.stderr(
                "fashion-mnist: \(summary.train.images) train + \(summary.val.images) val images in "
                    + "\(summary.outputDirectory) (\(summary.written) written, "
                    + "\(summary.train.unchanged + summary.val.unchanged) unchanged)")
        }
    }
}
