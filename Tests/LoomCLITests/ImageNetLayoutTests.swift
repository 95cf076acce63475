import Foundation
import LoomTestSupport
import Testing

/// `loom ingest --json` with the keys the ImageNet layouts add.
private struct LayoutIngestJSON: Decodable {
    var splits: [String]
    var classes: Int
    var files: Int
    var added: Int
    var updated: Int
    var unchanged: Int
    var skipped: Int
    var rejected: [IngestJSON.Rejection]
    var classNames: String?
    var valLabels: String?

    enum CodingKeys: String, CodingKey {
        case splits, classes, files, added, updated, unchanged, skipped, rejected
        case classNames = "class_names"
        case valLabels = "val_labels"
    }

    func reason(_ path: String) -> String? { rejected.first { $0.path == path }?.reason }
}

/// One row of `loom sql ... --json` over `v_real_images`.
private struct FormatRow: Decodable { var path: String; var format: String }

/// The datasets of the paper on disk exactly as their users download them.
extension CLITests {
    /// Kaggle's ImageNet download (`imagenet-object-localization-challenge`): the label files at
    /// the top, ROOT three folders down, val/ and test/ flat.
    private struct KaggleImageNet {
        static let classes = ["n01440764", "n01443537", "n01484850"]
        let temp: ScratchDirectory
        var top: String { temp.appending("kaggle") }
        var root: String { top + "/ILSVRC/Data/CLS-LOC" }

        init(_ temp: ScratchDirectory) throws {
            self.temp = temp
            let base = "kaggle/ILSVRC/Data/CLS-LOC/"
            var seed: UInt64 = 9000
            func jpeg() -> [UInt8] { seed += 1; return FixtureImages.jpeg(width: 40, height: 30, seed: seed) }
            try temp.write(jpeg(), to: base + "train/n01440764/n01440764_10026.JPEG")
            try temp.write(FixtureImages.grayJPEG(width: 40, height: 30, seed: 9100), to: base + "train/n01440764/n01440764_10027.JPEG")
            try temp.write(FixtureImages.cmykJPEG(width: 40, height: 30, seed: 9101), to: base + "train/n01443537/n01443537_2.JPEG")
            // ImageNet's train set holds a PNG named .JPEG (n02105855_2933.JPEG).
            try temp.write(FixtureImages.png(width: 40, height: 30, seed: 9102), to: base + "train/n01443537/n01443537_3.JPEG")
            try temp.write(jpeg(), to: base + "train/n01484850/n01484850_4.JPEG")
            for index in 1...4 { try temp.write(jpeg(), to: base + "val/ILSVRC2012_val_0000000\(index).JPEG") }
            try temp.write(jpeg(), to: base + "test/ILSVRC2012_test_00000001.JPEG")
            try temp.write(jpeg(), to: base + "test/ILSVRC2012_test_00000002.JPEG")
            try temp.write("""
                n01440764 tench, Tinca tinca
                n01443537 goldfish, Carassius auratus
                n01484850 great white shark, white shark, man-eater

                """, to: "kaggle/LOC_synset_mapping.txt")
            // Image 3 has no row; image 4's class has no train folder.
            try temp.write("""
                ImageId,PredictionString\r
                ILSVRC2012_val_00000002,n01440764 10 20 30 40 \r
                ILSVRC2012_val_00000001,n01443537 43 51 480 340 n01443537 1 2 3 4 \r
                ILSVRC2012_val_00000004,n09999999 1 1 5 5 \r

                """, to: "kaggle/LOC_val_solution.csv")
        }
    }

    @Test("ImageNet-1K as Kaggle ships it: flat val labelled from LOC_val_solution.csv three folders up, same labels as train")
    func imageNetKaggleLayout() throws {
        let temp = try ScratchDirectory()
        let imagenet = try KaggleImageNet(temp)
        let store = CLIStore(temp.appending("store"))
        let summary = try store.ok(store.ingestArguments(imagenet.root, dataset: "imagenet")).decode(LayoutIngestJSON.self)

        #expect(summary.splits == ["test", "train", "val"] && summary.classes == 3, "\(summary)")
        #expect(summary.files == 7 && summary.added == 7 && summary.skipped == 0, "5 train + 2 labelled val: \(summary)")
        #expect(summary.valLabels?.hasSuffix("/kaggle/LOC_val_solution.csv") == true, "\(String(describing: summary.valLabels))")
        #expect(summary.classNames?.hasSuffix("/kaggle/LOC_synset_mapping.txt") == true, "\(String(describing: summary.classNames))")
        #expect(summary.rejected.count == 3, "\(summary.rejected)")
        #expect(summary.reason("val/ILSVRC2012_val_00000003.JPEG")?.contains("no label") == true, "\(summary.rejected)")
        let unknown = summary.reason("val/ILSVRC2012_val_00000004.JPEG") ?? ""
        #expect(unknown.contains("n09999999") && unknown.contains("no class folder"), "\(summary.rejected)")
        let test = summary.reason("test") ?? ""
        #expect(test.contains("2 files") && test.contains("no class folders"), "the flat test split is one rejection: \(summary.rejected)")

        let lines = try store.ls("imagenet")
        let byPath = Dictionary(uniqueKeysWithValues: lines.map { ($0.path, $0) })
        #expect(lines.count == 7)
        for line in lines where line.split == "train" {
            let folder = String(line.path.split(separator: "/")[1])
            #expect(line.class == folder && line.label == KaggleImageNet.classes.firstIndex(of: folder), "\(line)")
        }
        #expect(byPath["val/ILSVRC2012_val_00000001.JPEG"].map { ($0.class, $0.label, $0.split) } ?? ("", -1, "") == ("n01443537", 1, "val"))
        #expect(byPath["val/ILSVRC2012_val_00000002.JPEG"].map { ($0.class, $0.label) } ?? ("", -1) == ("n01440764", 0))

        let stats = try store.stats()
        let dataset = try #require(stats.datasets.first { $0.name == "imagenet" })
        let val = try #require(dataset.splits.first { $0.name == "val" })
        #expect(val.classes.filter { $0.images > 0 }.map(\.wnid) == ["n01440764", "n01443537"], "\(val)")
        let train = try #require(dataset.splits.first { $0.name == "train" })
        #expect(train.classes.map(\.name) == ["tench, Tinca tinca", "goldfish, Carassius auratus",
                                               "great white shark, white shark, man-eater"], "\(train)")
        #expect(train.classes.map(\.images) == [2, 2, 1])

        // Grey and CMYK JPEGs go in as JPEG; the PNG named .JPEG goes in as the PNG it is.
        let formats = try store.ok(["sql", "SELECT path, format FROM v_real_images WHERE split = 'train' ORDER BY path", "--json"])
            .decodeLines(FormatRow.self)
        #expect(formats.first { $0.path.hasSuffix("n01443537_3.JPEG") }?.format == "png", "\(formats)")
        #expect(formats.filter { $0.format == "jpeg" }.count == 4, "\(formats)")

        let again = try store.ok(store.ingestArguments(imagenet.root, dataset: "imagenet")).decode(LayoutIngestJSON.self)
        #expect(again.unchanged == 7 && again.added == 0 && again.updated == 0, "\(again)")
    }

    @Test("ImageNet val labels two folders above ROOT or named with --val-labels; without any, flat val is one rejection")
    func imageNetValLabelsLocations() throws {
        let temp = try ScratchDirectory()
        let imagenet = try KaggleImageNet(temp)
        let csv = try Files.read(imagenet.top + "/LOC_val_solution.csv")
        try FileManager.default.removeItem(atPath: imagenet.top + "/LOC_val_solution.csv")

        let bare = CLIStore(temp.appending("bare"))
        let unlabelled = try bare.ok(bare.ingestArguments(imagenet.root, dataset: "in")).decode(LayoutIngestJSON.self)
        #expect(unlabelled.valLabels == nil && unlabelled.files == 5, "\(unlabelled)")
        let val = unlabelled.reason("val") ?? ""
        #expect(val.contains("4 files") && val.contains("LOC_val_solution.csv") && val.contains("--val-labels"), "\(unlabelled.rejected)")

        try temp.write(csv, to: "kaggle/ILSVRC/LOC_val_solution.csv")
        let twoUp = CLIStore(temp.appending("two-up"))
        let found = try twoUp.ok(twoUp.ingestArguments(imagenet.root, dataset: "in")).decode(LayoutIngestJSON.self)
        #expect(found.valLabels?.hasSuffix("/kaggle/ILSVRC/LOC_val_solution.csv") == true && found.files == 7, "\(found)")

        // One wnid per line in image order (TensorFlow's imagenet_2012_validation_synset_labels.txt).
        let lineList = try temp.write("n01484850\nn01484850\nn01440764\n", to: "synset_labels.txt")
        let named = CLIStore(temp.appending("named"))
        let listed = try named.ok(named.ingestArguments(imagenet.root, dataset: "in", ["--val-labels", lineList]))
            .decode(LayoutIngestJSON.self)
        #expect(listed.valLabels == lineList && listed.files == 8, "\(listed)")
        #expect(listed.reason("val/ILSVRC2012_val_00000004.JPEG")?.contains("no label") == true, "\(listed.rejected)")
        let classes = try named.ls("in", ["--split", "val"]).map(\.class)
        #expect(classes == ["n01484850", "n01484850", "n01440764"], "\(classes)")
    }

    @Test("the devkit's ILSVRC2012_validation_ground_truth.txt is refused with the reason and what to use; nothing is stored")
    func imageNetDevkitGroundTruthRefused() throws {
        let temp = try ScratchDirectory()
        let imagenet = try KaggleImageNet(temp)
        let truth = try temp.write("490\n361\n171\n822\n", to: "ILSVRC2012_validation_ground_truth.txt")
        let store = CLIStore(temp.appending("store"))
        let run = try store.run(store.ingestArguments(imagenet.root, dataset: "in", ["--val-labels", truth]))
        #expect(!run.succeeded && !run.signaled, "\(run)")
        #expect(run.stderrText.contains(truth) && run.stderrText.contains("meta.mat") && run.stderrText.contains("LOC_val_solution.csv"), "\(run)")
        #expect(!FileManager.default.fileExists(atPath: store.path), "a refused labels file leaves no store behind")
    }

    @Test("ImageNet-100 style --classes: only the listed classes, labelled in sorted order; other val images skipped and counted")
    func imageNetClassSubset() throws {
        let temp = try ScratchDirectory()
        let imagenet = try KaggleImageNet(temp)
        let list = try temp.write("# two of them\nn01484850\n\n  n01440764   # tench\n", to: "imagenet2.txt")
        let store = CLIStore(temp.appending("store"))
        let summary = try store.ok(store.ingestArguments(imagenet.root, dataset: "in2", ["--classes", list])).decode(LayoutIngestJSON.self)
        #expect(summary.classes == 2 && summary.files == 4 && summary.skipped == 1, "3 train + 1 val; val 1 is skipped: \(summary)")
        #expect(summary.reason("val/ILSVRC2012_val_00000001.JPEG") == nil, "a val image of a left-out class is no error")
        #expect(summary.reason("val/ILSVRC2012_val_00000004.JPEG") != nil, "a label naming no class at all still is")

        let lines = try store.ls("in2")
        #expect(Set(lines.map(\.class)) == ["n01440764", "n01484850"], "\(lines)")
        for line in lines { #expect(line.label == (line.class == "n01440764" ? 0 : 1), "\(line)") }
        #expect(lines.first { $0.split == "val" }.map { ($0.path, $0.label) } ?? ("", -1) == ("val/ILSVRC2012_val_00000002.JPEG", 0))

        let typo = try temp.write("n01440764\nn0148485O\n", to: "typo.txt")
        let bad = CLIStore(temp.appending("bad"))
        let run = try bad.run(bad.ingestArguments(imagenet.root, dataset: "in2", ["--classes", typo]))
        #expect(!run.succeeded && !run.signaled, "\(run)")
        #expect(run.stderrText.contains(typo) && run.stderrText.contains("line 2") && run.stderrText.contains("n0148485O"), "\(run)")
        #expect(!FileManager.default.fileExists(atPath: bad.path), "an unknown class leaves no store behind")
    }

    private static let imagenette: [(String, String)] = [
        ("n01440764", "tench"), ("n02102040", "English springer"), ("n02979186", "cassette player"),
        ("n03000684", "chain saw"), ("n03028079", "church"), ("n03394916", "French horn"),
        ("n03417042", "garbage truck"), ("n03425413", "gas pump"), ("n03445777", "golf ball"), ("n03888605", "parachute"),
    ]
    private static let imagewoof: [(String, String)] = [
        ("n02086240", "Shih-Tzu"), ("n02087394", "Rhodesian ridgeback"), ("n02088364", "beagle"),
        ("n02089973", "English foxhound"), ("n02093754", "Border terrier"), ("n02096294", "Australian terrier"),
        ("n02099601", "golden retriever"), ("n02105641", "Old English sheepdog"), ("n02111889", "Samoyed"), ("n02115641", "dingo"),
    ]

    /// fast.ai's `<name>/{train,val}/<wnid>/*.JPEG`, one image per class and split.
    private static func writeFastAI(_ classes: [(String, String)], into temp: ScratchDirectory, name: String, seed: UInt64) throws {
        for (index, (wnid, _)) in classes.enumerated() {
            for (offset, split) in ["train", "val"].enumerated() {
                let bytes = FixtureImages.jpeg(width: 32, height: 24, seed: seed + UInt64(index * 2 + offset))
                try temp.write(bytes, to: "\(name)/\(split)/\(wnid)/\(wnid)_\(index).JPEG")
            }
        }
    }

    @Test("ImageNette and Imagewoof as fast.ai ships them get their ten names built in; a subset of the classes does not")
    func fastAIBuiltInNames() throws {
        let temp = try ScratchDirectory()
        try Self.writeFastAI(Self.imagenette, into: temp, name: "imagenette2", seed: 9300)
        try Self.writeFastAI(Self.imagewoof, into: temp, name: "imagewoof2", seed: 9400)
        try Self.writeFastAI(Array(Self.imagenette.prefix(9)), into: temp, name: "nine", seed: 9500)
        let store = CLIStore(temp.appending("store"))

        for (name, table) in [("imagenette2", Self.imagenette), ("imagewoof2", Self.imagewoof)] {
            let summary = try store.ok(store.ingestArguments(temp.appending(name), dataset: name)).decode(LayoutIngestJSON.self)
            #expect(summary.splits == ["train", "val"] && summary.files == 20 && summary.rejected.isEmpty, "\(summary)")
            #expect(summary.classNames == "built-in " + String(name.dropLast()), "\(String(describing: summary.classNames))")
            let dataset = try #require(try store.stats().datasets.first { $0.name == name })
            for split in dataset.splits {
                #expect(split.classes.map(\.wnid) == table.map(\.0) && split.classes.map(\.name) == table.map(\.1), "\(split)")
                #expect(split.classes.map(\.label) == Array(0..<10))
            }
        }
        let nine = try store.ok(store.ingestArguments(temp.appending("nine"), dataset: "nine")).decode(LayoutIngestJSON.self)
        #expect(nine.classNames == nil, "\(nine)")
        let classes = try #require(try store.stats().datasets.first { $0.name == "nine" }?.splits.first?.classes)
        #expect(classes.allSatisfy { $0.name == $0.wnid }, "\(classes)")

        // --class-names wins over the built-in table.
        let names = try temp.write(Self.imagenette.map { "\($0.0) my \($0.1)" }.joined(separator: "\n"), to: "names.txt")
        let mine = try store.ok(store.ingestArguments(temp.appending("imagenette2"), dataset: "mine", ["--class-names", names]))
            .decode(LayoutIngestJSON.self)
        #expect(mine.classNames == names)
        let mineClasses = try #require(try store.stats().datasets.first { $0.name == "mine" }?.splits.first?.classes)
        #expect(mineClasses.map(\.name) == Self.imagenette.map { "my " + $0.1 })
    }

    @Test("noisy_imagenette.csv: --labels-csv with --label-column relabels files; another column relabels them again")
    func noisyImagenette() throws {
        let temp = try ScratchDirectory()
        try Self.writeFastAI(Self.imagenette, into: temp, name: "imagenette2", seed: 9600)
        let root = temp.appending("imagenette2")
        var rows = ["path,noisy_labels_0,noisy_labels_1,noisy_labels_5,noisy_labels_25,noisy_labels_50,is_valid"]
        for (index, (wnid, _)) in Self.imagenette.enumerated() {
            for split in ["train", "val"] {
                // At 5% noise the first training image is labelled as the second class.
                let noisy = split == "train" && index == 0 ? Self.imagenette[1].0 : wnid
                rows.append("\(split)/\(wnid)/\(wnid)_\(index).JPEG,\(wnid),\(wnid),\(noisy),\(noisy),\(noisy),\(split == "val" ? "True" : "False")")
            }
        }
        rows.removeLast()  // the last val image has no row
        let csv = try temp.write(rows.joined(separator: "\n") + "\n", to: "imagenette2/noisy_imagenette.csv")
        let store = CLIStore(temp.appending("store"))

        let noisy = try store.ok(store.ingestArguments(root, dataset: "nette", ["--labels-csv", csv, "--label-column", "noisy_labels_5"]))
            .decode(LayoutIngestJSON.self)
        let last = "val/n03888605/n03888605_9.JPEG"
        #expect(noisy.files == 19 && noisy.added == 19 && noisy.rejected.map(\.path) == [last], "\(noisy)")
        #expect(noisy.reason(last)?.contains("no row") == true)
        let first = "train/n01440764/n01440764_0.JPEG"
        #expect(try store.ls("nette").first { $0.path == first }.map { ($0.class, $0.label) } ?? ("", -1) == ("n02102040", 1))

        let clean = try store.ok(store.ingestArguments(root, dataset: "nette", ["--labels-csv", csv, "--label-column", "noisy_labels_0"]))
            .decode(LayoutIngestJSON.self)
        #expect(clean.updated == 1 && clean.unchanged == 18, "the relabelled file is updated, not unchanged: \(clean)")
        #expect(try store.ls("nette").first { $0.path == first }.map { ($0.class, $0.label) } ?? ("", -1) == ("n01440764", 0))

        let missing = try store.run(store.ingestArguments(root, dataset: "nette", ["--labels-csv", csv, "--label-column", "noisy_labels_7"]))
        #expect(!missing.succeeded && missing.stderrText.contains("noisy_labels_7") && missing.stderrText.contains(csv), "\(missing)")
        let alone = try store.run(store.ingestArguments(root, dataset: "nette", ["--labels-csv", csv]))
        #expect(!alone.succeeded && alone.stderrText.contains("--label-column"), "\(alone)")
    }
}
