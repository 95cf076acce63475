import Foundation
import LoomIngest
import LoomStore
import LoomTestSupport
import Testing

/// The label and class files of ImageNet, its subsets and ImageNette, read on their own.
@Suite("ImageNet label files")
struct ImageNetLayoutUnitTests {
    @Test("LOC_val_solution.csv: BOM, CRLF, the first token is the wnid, images match with or without extension")
    func kaggleSolutionCSV() throws {
        let labels = try ValLabels(text: "\u{FEFF}ImageId,PredictionString\r\n"
            + "ILSVRC2012_val_00008726,n02119789 255 142 454 329 n02119789 44 21 322 295 \r\n"
            + "ILSVRC2012_val_00000001,n01751748 43 51 480 340\r\n")
        #expect(labels.wnids.count == 2)
        #expect(labels.wnid(forFileNamed: "ILSVRC2012_val_00008726.JPEG") == "n02119789")
        #expect(labels.wnid(forFileNamed: "ILSVRC2012_val_00000001") == "n01751748")
        #expect(labels.wnid(forFileNamed: "ILSVRC2012_val_00000002.JPEG") == nil)
    }

    @Test("one wnid per line labels ILSVRC2012_val_<N> in order")
    func lineList() throws {
        let labels = try ValLabels(text: "n01751748\nn09193705\n\n")
        #expect(labels.wnid(forFileNamed: "ILSVRC2012_val_00000001.JPEG") == "n01751748")
        #expect(labels.wnid(forFileNamed: "ILSVRC2012_val_00000002.JPEG") == "n09193705")
        #expect(labels.wnids.count == 2)
    }

    @Test("bad validation labels fail naming the file, the line and the reason")
    func badValLabels() {
        func message(_ text: String) -> String {
            do {
                _ = try ValLabels(text: text, path: "/data/labels")
                return ""
            } catch {
                return "\(error)"
            }
        }
        let devkit = message("490\n361\n171\n")
        #expect(devkit.hasPrefix("/data/labels: ") && devkit.contains("ILSVRC2012_ID") && devkit.contains("meta.mat"), "\(devkit)")
        let twice = message("ImageId,PredictionString\na,n01 1 2 3 4\na,n02 1 2 3 4\n")
        #expect(twice.contains("line 3") && twice.contains("twice"), "\(twice)")
        let noWnid = message("ImageId,PredictionString\nILSVRC2012_val_00000001,\n")
        #expect(noWnid.contains("line 2"), "\(noWnid)")
        let csvWithoutHeader = message("ILSVRC2012_val_00000001,n01751748 1 2 3 4\n")
        #expect(csvWithoutHeader.contains("line 1") && csvWithoutHeader.contains("ImageId,PredictionString"), "\(csvWithoutHeader)")
        #expect(message("").contains("empty"))
    }

    @Test("LOC_val_solution.csv is found in ROOT and up to three folders above it, the nearest first, not further")
    func findsKaggleFile() throws {
        let temp = try TemporaryDirectory(prefix: "loom-val-labels-")
        let root = temp.appending("a/b/c/d/e")
        try RawFiles.makeDirectories(root)
        #expect(ValLabels.find(root: root) == nil)
        try RawFiles.write(Array("ImageId,PredictionString\n".utf8), to: temp.appending("a/LOC_val_solution.csv"))
        #expect(ValLabels.find(root: root) == nil, "four folders up is too far")
        try RawFiles.write(Array("ImageId,PredictionString\n".utf8), to: temp.appending("a/b/LOC_val_solution.csv"))
        #expect(ValLabels.find(root: root)?.hasSuffix("/a/b/LOC_val_solution.csv") == true)
        try RawFiles.write(Array("ImageId,PredictionString\n".utf8), to: temp.appending("a/b/c/LOC_val_solution.csv"))
        #expect(ValLabels.find(root: root)?.hasSuffix("/a/b/c/LOC_val_solution.csv") == true, "two folders up beats three")
        try RawFiles.write(Array("ImageId,PredictionString\n".utf8), to: root + "/LOC_val_solution.csv")
        #expect(ValLabels.find(root: root)?.hasSuffix("/a/b/c/d/e/LOC_val_solution.csv") == true)
    }

    @Test("a LOC_synset_mapping.txt with CRLF line endings is read line by line")
    func crlfClassNames() throws {
        let names = try ClassNamesFile(text: "n01440764 tench, Tinca tinca\r\nn01443537 goldfish, Carassius auratus\r\n").names
        #expect(names.count == 2, "\(names)")
        #expect(names[ExactName("n01443537")]?.name == "goldfish, Carassius auratus")
        #expect(names[ExactName("n01440764")]?.promptName == "tench")
    }

    @Test("--classes file: comments and blank lines ignored, names kept byte for byte, an empty list refused")
    func classSubset() throws {
        let subset = try ClassSubset(text: "# ImageNet-100\n\nn01558993\n  n01692333  # a comment\r\nn01558993\n")
        #expect(subset.names == ["n01558993", "n01692333"])
        #expect(throws: IngestError.self) { try ClassSubset(text: "# nothing\n\n", path: "/lists/empty.txt") }
    }

    @Test("a --classes name with no class folder fails naming the file, line and name; other folders are not walked")
    func unknownSubsetName() throws {
        let temp = try TemporaryDirectory(prefix: "loom-subset-")
        let root = temp.appending("data")
        for wnid in ["n01", "n02", "n03"] {
            try RawFiles.write(FixtureImages.jpeg(width: 24, height: 16, seed: 40), to: root + "/train/\(wnid)/x.JPEG")
        }
        let list = temp.appending("list.txt")
        try RawFiles.write(Array("n03\nn01\n".utf8), to: list)
        let plan = try Ingestor.plan(root: root, options: .init(dataset: "d", classesPath: list))
        #expect(plan.scan.classes == ["n01", "n03"] && plan.scan.files.map(\.wnid) == ["n01", "n03"])

        try RawFiles.write(Array("n03\n\n# x\nn04\n".utf8), to: list)
        #expect {
            _ = try Ingestor.plan(root: root, options: .init(dataset: "d", classesPath: list))
        } throws: { error in
            "\(error)".hasPrefix(list + ": line 4") && "\(error)".contains("\"n04\"")
        }
    }

    @Test("built-in names apply only to the exact ImageNette or Imagewoof class set")
    func builtInNames() throws {
        let temp = try TemporaryDirectory(prefix: "loom-nette-")
        let root = temp.appending("imagenette2")
        let wnids = ["n01440764", "n02102040", "n02979186", "n03000684", "n03028079",
                     "n03394916", "n03417042", "n03425413", "n03445777", "n03888605"]
        for wnid in wnids { try RawFiles.write(FixtureImages.jpeg(width: 24, height: 16, seed: 41), to: root + "/train/\(wnid)/x.JPEG") }
        #expect(try Ingestor.plan(root: root, options: .init(dataset: "d")).classNamesSource == "built-in imagenette")
        // An eleventh class: not ImageNette any more.
        try RawFiles.write(FixtureImages.jpeg(width: 24, height: 16, seed: 42), to: root + "/train/n09999999/x.JPEG")
        #expect(try Ingestor.plan(root: root, options: .init(dataset: "d")).classNamesSource == nil)
    }

    @Test("labels CSV: the header must have `path` and the chosen column; rows must be whole")
    func labelsCSV() throws {
        let csv = try LabelsCSV(text: "path,noisy_labels_0,noisy_labels_5,is_valid\ntrain/a/1.JPEG,a,b,False\n", column: "noisy_labels_5")
        #expect(csv.wnids == [ExactName("train/a/1.JPEG"): "b"])
        #expect(throws: IngestError.self) { try LabelsCSV(text: "path,noisy_labels_0\n", column: "noisy_labels_5") }
        #expect(throws: IngestError.self) { try LabelsCSV(text: "file,noisy_labels_5\n", column: "noisy_labels_5") }
        #expect(throws: IngestError.self) { try LabelsCSV(text: "path,noisy_labels_5\ntrain/a/1.JPEG\n", column: "noisy_labels_5") }
    }
}
