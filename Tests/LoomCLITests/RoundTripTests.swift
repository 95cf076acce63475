import Foundation
import LoomStore
import LoomTestSupport
import Testing

extension CLITests {
    /// Checks `loom ls --json` of `dataset` against the images written to disk: one line per
    /// image, with the right split, class, size, and the SHA-256 of the file as its digest.
    static func expectListing(_ lines: [LsLine], match images: [SourceImage], classOrder: [String],
                              sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(lines.count == images.count, "ls lists \(lines.count) images, \(images.count) were ingested", sourceLocation: sourceLocation)
        let byKey = Dictionary(uniqueKeysWithValues: lines.map { ("\($0.split)|\($0.path)", $0) })
        for image in images {
            guard let line = byKey["\(image.split)|\(image.path)"] else {
                Issue.record("ls has no line for \(image.split)/\(image.path); it lists \(lines)", sourceLocation: sourceLocation)
                continue
            }
            #expect(line.digest == Digest.sha256(image.bytes).hex, "digest of \(image.path)", sourceLocation: sourceLocation)
            #expect(line.class == image.class, "class of \(image.path)", sourceLocation: sourceLocation)
            #expect(line.label == classOrder.firstIndex(of: image.class), "label of \(image.path)", sourceLocation: sourceLocation)
            #expect(line.width == image.width && line.height == image.height,
                    "\(image.path) is \(image.width)x\(image.height), ls says \(line.width)x\(line.height)", sourceLocation: sourceLocation)
        }
    }

    /// Checks that `out` holds exactly `images`, byte for byte, at `out/<relative(image)>`.
    static func expectExported(_ out: String, _ images: [SourceImage], relative: (SourceImage) -> String,
                               sourceLocation: SourceLocation = #_sourceLocation) throws {
        let expected = Dictionary(uniqueKeysWithValues: images.map { (relative($0), $0.bytes) })
        let found = try Files.regularFiles(below: out)
        #expect(Set(found) == Set(expected.keys), "export wrote \(found), expected \(expected.keys.sorted())", sourceLocation: sourceLocation)
        for (path, bytes) in expected where found.contains(path) {
            #expect(try Files.read(out + "/" + path) == bytes, "exported \(path) differs from its source", sourceLocation: sourceLocation)
        }
    }

    @Test("ingest, ls, cat and export round-trip every file byte for byte (ImageFolder layout)")
    func roundTripImageFolder() throws {
        let temp = try ScratchDirectory()
        let classes = ["cat", "dog", "zebra"]
        var images = DatasetMaker.pictures(classes: classes, perClass: 4, split: "train", seed: 11)
        // A file in a subfolder of a class folder keeps its subpath as its name.
        images.append(SourceImage(path: "dog/nested/deep.jpg", split: "train", class: "dog", name: "nested/deep.jpg",
                                  width: 88, height: 64, bytes: FixtureImages.jpeg(width: 88, height: 64, seed: 999)))
        images.append(SourceImage(path: "zebra/gray.png", split: "train", class: "zebra", name: "gray.png",
                                  width: 70, height: 50, bytes: FixtureImages.png(width: 70, height: 50, seed: 998, channels: 1)))
        try DatasetMaker.write(images, into: temp, root: "data")
        let store = CLIStore(temp.appending("store"))

        let summary = try store.ingest(temp.appending("data"), dataset: "pets")
        #expect(summary.layout == "imagefolder")
        #expect(summary.splits == ["train"])
        #expect(summary.added == images.count && summary.files == images.count && summary.rejected.isEmpty,
                "\(summary)")

        let lines = try store.ls("pets")
        Self.expectListing(lines, match: images, classOrder: classes)

        // cat by a 12-digit prefix gives the original bytes back, for every image.
        for image in images {
            let digest = Digest.sha256(image.bytes).hex
            let bytes = try store.cat(String(digest.prefix(12)))
            #expect([UInt8](bytes) == image.bytes, "cat \(digest.prefix(12)) differs from \(image.path)")
        }

        // Export of the whole dataset: OUT/<split>/<class>/<name>.
        let out = temp.appending("export-all")
        try store.ok(["export", "--dataset", "pets", "--format", "imagefolder", out])
        try Self.expectExported(out, images) { "\($0.split)/\($0.class)/\($0.name)" }

        // Export of one split: OUT/<class>/<name>.
        let outSplit = temp.appending("export-train")
        try store.ok(["export", "--dataset", "pets", "--split", "train", "--format", "imagefolder", outSplit])
        try Self.expectExported(outSplit, images) { "\($0.class)/\($0.name)" }
    }

    @Test("ingest, ls, cat and export round-trip a train/val layout")
    func roundTripTrainVal() throws {
        let temp = try ScratchDirectory()
        let classes = ["n01440764", "n01443537"]
        let train = DatasetMaker.pictures(classes: classes, perClass: 4, split: "train", prefix: "train/", seed: 21)
        let val = DatasetMaker.pictures(classes: classes, perClass: 2, split: "val", prefix: "val/", seed: 22)
        try DatasetMaker.write(train + val, into: temp, root: "imagenet")
        try temp.write("n01440764 tench, Tinca tinca\nn01443537 goldfish, Carassius auratus\n",
                       to: "imagenet/LOC_synset_mapping.txt")
        let store = CLIStore(temp.appending("store"))

        let summary = try store.ingest(temp.appending("imagenet"), dataset: "mini")
        #expect(summary.layout == "train-val")
        #expect(summary.splits == ["train", "val"])
        #expect(summary.classes == 2)
        #expect(summary.added == train.count + val.count && summary.rejected.isEmpty, "\(summary)")

        let lines = try store.ls("mini")
        Self.expectListing(lines, match: train + val, classOrder: classes)
        #expect(lines.allSatisfy { $0.path.hasPrefix($0.split + "/") }, "paths are relative to the dataset root: \(lines)")
        #expect(try store.ls("mini", ["--split", "val"]).count == val.count)
        #expect(try store.ls("mini", ["--class", "goldfish"]).count == 6, "--class takes the prompt name")

        for image in [train[0], train[5], val[1]] {
            let bytes = try store.cat(String(Digest.sha256(image.bytes).hex.prefix(12)))
            #expect([UInt8](bytes) == image.bytes, "cat of \(image.path)")
        }

        let out = temp.appending("out")
        try store.ok(["export", "--dataset", "mini", "--format", "imagefolder", out])
        try Self.expectExported(out, train + val) { "\($0.split)/\($0.class)/\($0.name)" }

        let outVal = temp.appending("out-val")
        try store.ok(["export", "--dataset", "mini", "--split", "val", "--format", "imagefolder", outVal])
        try Self.expectExported(outVal, val) { "\($0.class)/\($0.name)" }
    }

    @Test("re-ingest is idempotent; identical bytes are stored once, across paths and datasets")
    func idempotentAndDeduplicated() throws {
        let temp = try ScratchDirectory()
        let images = DatasetMaker.pictures(classes: ["a", "b"], perClass: 5, split: "train", seed: 31)
        try DatasetMaker.write(images, into: temp, root: "data")
        let store = CLIStore(temp.appending("store"))

        let first = try store.ingest(temp.appending("data"), dataset: "D")
        #expect(first.added == images.count && first.duplicates == 0 && first.unchanged == 0, "\(first)")
        let statsAfterFirst = try store.stats()
        #expect(statsAfterFirst.blobs.count == images.count)

        // Second run over the same folder: nothing new, nothing read.
        let second = try store.ingest(temp.appending("data"), dataset: "D")
        #expect(second.added == 0 && second.duplicates == 0 && second.updated == 0, "\(second)")
        #expect(second.unchanged == images.count, "\(second)")
        #expect(second.bytesStored == 0, "\(second)")
        let statsAfterSecond = try store.stats()
        #expect(statsAfterSecond.blobs == statsAfterFirst.blobs)
        #expect(statsAfterSecond.shards.bytes == statsAfterFirst.shards.bytes)
        #expect(statsAfterSecond.datasets == statsAfterFirst.datasets)

        // The same folder under a second dataset name: new rows, no new blobs or bytes.
        let other = try store.ingest(temp.appending("data"), dataset: "D2")
        #expect(other.added == 0 && other.duplicates == images.count, "\(other)")
        #expect(other.bytesStored == 0, "\(other)")
        let statsAfterOther = try store.stats()
        #expect(statsAfterOther.blobs == statsAfterFirst.blobs, "a second dataset of the same files stored new blobs")
        #expect(statsAfterOther.shards.bytes == statsAfterFirst.shards.bytes)
        #expect(statsAfterOther.images(of: "D") == images.count)
        #expect(statsAfterOther.images(of: "D2") == images.count)
        #expect(Set(try store.ls("D2").map(\.digest)) == Set(try store.ls("D").map(\.digest)))

        // A dataset holding the same bytes under two paths: one blob, one duplicate.
        let copy = images[0]
        try temp.write(copy.bytes, to: "dup/a/original.jpg")
        try temp.write(copy.bytes, to: "dup/b/copy-of-original.jpg")
        try temp.write(FixtureImages.jpeg(width: 64, height: 48, seed: 4242), to: "dup/b/unique.jpg")
        let freshStore = CLIStore(temp.appending("store-dup"))
        let dup = try freshStore.ingest(temp.appending("dup"), dataset: "dup")
        #expect(dup.added == 2 && dup.duplicates == 1, "\(dup)")
        let dupStats = try freshStore.stats()
        #expect(dupStats.blobs.count == 2, "2 unique contents, stats says \(dupStats.blobs.count) blobs")
        #expect(dupStats.images(of: "dup") == 3)
        let dupLines = try freshStore.ls("dup")
        #expect(dupLines.count == 3)
        #expect(Set(dupLines.map(\.digest)).count == 2)
        // And the same bytes into the first store: already there, so a duplicate.
        let cross = try store.ingest(temp.appending("dup"), dataset: "dup")
        #expect(cross.added == 1 && cross.duplicates == 2, "\(cross)")
        #expect(try store.stats().blobs.count == images.count + 1)
        try store.expectClean()
    }
}
