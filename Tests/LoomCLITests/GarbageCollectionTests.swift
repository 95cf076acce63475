import Foundation
import LoomStore
import LoomTestSupport
import Testing

extension CLITests {
    /// Two datasets with distinct files (and, with `share`, one file they share).
    static func makeTwoDatasets(_ temp: ScratchDirectory, share: Bool) throws -> (a: [SourceImage], b: [SourceImage]) {
        let a = DatasetMaker.pictures(classes: ["x", "y"], perClass: 5, split: "train", seed: 91)
        let b = DatasetMaker.pictures(classes: ["x", "z"], perClass: 4, split: "train", seed: 92)
        try DatasetMaker.write(a, into: temp, root: "A")
        try DatasetMaker.write(b, into: temp, root: "B")
        guard share else { return (a, b) }
        // B also holds one of A's files: removing A must keep those bytes.
        var shared = a[0]
        shared.path = "z/from-a.jpg"
        shared.class = "z"
        shared.name = "from-a.jpg"
        try temp.write(shared.bytes, to: "B/" + shared.path)
        return (a, b + [shared])
    }

    static func expectDatasetReadsBack(_ store: CLIStore, _ images: [SourceImage], sourceLocation: SourceLocation = #_sourceLocation) throws {
        for image in images {
            let bytes = try store.cat(Digest.sha256(image.bytes).hex)
            #expect([UInt8](bytes) == image.bytes, "cat of \(image.path)", sourceLocation: sourceLocation)
        }
    }

    @Test("rm + gc reclaims a deleted dataset's bytes and keeps the other dataset byte-exact (shared shard)")
    func rmThenGCSharedShard() throws {
        let temp = try ScratchDirectory()
        let (a, b) = try Self.makeTwoDatasets(temp, share: true)
        let store = CLIStore(temp.appending("store"))
        try store.ingest(temp.appending("A"), dataset: "A")
        try store.ingest(temp.appending("B"), dataset: "B")
        let before = try store.stats()
        #expect(before.blobs.count == a.count + b.count - 1)

        let rm = try store.ok(["rm", "--dataset", "A", "--json"])
        #expect(rm.stdoutText.contains("\"deleted_images\":\(a.count)"), "\(rm)")
        let afterRm = try store.stats()
        #expect(afterRm.datasets.map(\.name) == ["B"])
        // rm alone frees nothing: the bytes stay until gc.
        #expect(afterRm.shards.bytes == before.shards.bytes)

        let gc = try store.ok(["gc", "--json"]).decode(GCJSON.self)
        #expect(gc.deletedBlobs == a.count - 1, "A's blobs except the one B shares: \(gc)")
        #expect(gc.reclaimedBytes > 0, "\(gc)")
        try store.expectClean("after gc")
        try Self.expectDatasetReadsBack(store, b)

        let after = try store.stats()
        #expect(after.blobs.count == b.count)
        #expect(after.shards.bytes < before.shards.bytes, "shard bytes \(before.shards.bytes) -> \(after.shards.bytes)")
        #expect(after.shards.count <= before.shards.count)
        let onDisk = try store.shardFiles()
        #expect(onDisk.values.reduce(0, +) < before.shards.bytes, "shard files on disk: \(onDisk)")
        #expect(Set(onDisk.keys).count == after.shards.count, "shard files on disk \(onDisk.keys.sorted()) vs stats \(after.shards)")
        // A's blobs are gone for good.
        let goneDigest = Digest.sha256(a[1].bytes).hex
        let gone = try store.run(["cat", goneDigest])
        #expect(!gone.succeeded && gone.stderrText.contains(String(goneDigest.prefix(8))), "\(gone)")

        // A second gc finds nothing to do.
        let again = try store.ok(["gc", "--json"]).decode(GCJSON.self)
        #expect(again.deletedBlobs == 0 && again.reclaimedBytes == 0, "\(again)")
        try store.expectClean("after the second gc")
    }

    @Test("rm + gc removes whole shards when a deleted dataset had its own")
    func rmThenGCSeparateShards() throws {
        let temp = try ScratchDirectory()
        let (a, b) = try Self.makeTwoDatasets(temp, share: false)
        // Seal a shard after every commit: A and B land in shards of their own.
        let store = CLIStore(temp.appending("store"), environment: ["LOOM_SHARD_BYTES": "1"])
        try store.ingest(temp.appending("A"), dataset: "A")
        try store.ingest(temp.appending("B"), dataset: "B")
        let before = try store.stats()
        let filesBefore = try store.shardFiles()
        #expect(before.shards.count >= 2, "\(before.shards)")

        try store.ok(["rm", "--dataset", "A"])
        let gc = try store.ok(["gc", "--json"]).decode(GCJSON.self)
        #expect(gc.reclaimedBytes > 0 && gc.removedShards >= 1, "\(gc)")
        try store.expectClean("after gc")
        try Self.expectDatasetReadsBack(store, b)
        #expect(try store.ls("B").count == b.count)

        let after = try store.stats()
        let filesAfter = try store.shardFiles()
        #expect(after.shards.count < before.shards.count, "shards \(before.shards) -> \(after.shards)")
        #expect(after.shards.bytes < before.shards.bytes, "shard bytes \(before.shards.bytes) -> \(after.shards.bytes)")
        #expect(filesAfter.count < filesBefore.count, "shard files \(filesBefore) -> \(filesAfter)")
        #expect(filesAfter.values.reduce(0, +) < filesBefore.values.reduce(0, +))
        #expect(gc.reclaimedBytes <= filesBefore.values.reduce(0, +), "\(gc), shard files before: \(filesBefore)")
        #expect(gc.deletedBlobs == a.count, "\(gc)")
    }
}
