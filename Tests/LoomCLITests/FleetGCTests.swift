import Foundation
import LoomObjectStore
import LoomStore
import LoomTestSupport
import Testing

extension CLITests {
    @Test("fleet store: gc deletes the blobs and shard objects of a removed dataset, keeps a row-less object younger than --grace and removes it past it; what is left verifies and reads",
          FleetEngines.required)
    func fleetGarbageCollection() async throws {
        let engines = try await FleetEngines.start(prefix: "gc")
        let temp = try ScratchDirectory()
        let kept = try DatasetMaker.write(DatasetMaker.pictures(classes: ["k"], perClass: 6, split: "train", seed: 91), into: temp, root: "kept")
        let dropped = try DatasetMaker.write(DatasetMaker.pictures(classes: ["d"], perClass: 6, split: "train", seed: 92), into: temp, root: "dropped")
        let store = engines.workingFolder(temp.appending("work"), viaVariables: true)
        try store.ingest(temp.appending("kept"), dataset: "kept")
        try store.ingest(temp.appending("dropped"), dataset: "dropped")
        let client = S3Client(configuration: engines.seaweed.configuration())
        func objects() async throws -> Set<String> {
            Set(try await client.listAllObjects(bucket: engines.seaweed.bucket, prefix: "gc/shards/").map(\.key))
        }
        let before = try await objects()
        #expect(before.count == 2, "one shard object per ingest commit: \(before)")
        // What a writer killed between its upload and its commit leaves behind.
        let orphan = "gc/shards/999999.loom"
        _ = try await client.putObject(bucket: engines.seaweed.bucket, key: orphan, body: Array(repeating: 7, count: 1000))

        try store.ok(["rm", "--dataset", "dropped"])
        let first = try store.ok(["gc", "--json"]).decode(GCJSON.self)
        #expect(first.deletedBlobs == dropped.count && first.removedShards == 1, "\(first)")
        let after = try await objects()
        #expect(after.count == 2 && after.contains(orphan), "the dropped dataset's shard goes, the young orphan stays: \(after)")

        let second = try store.ok(["gc", "--grace", "0", "--json"]).decode(GCJSON.self)
        #expect(second.deletedBlobs == 0 && second.removedShards == 1 && second.reclaimedBytes == 1000, "\(second)")
        #expect(try await objects() == after.subtracting([orphan]))
        try store.expectClean("after gc")
        #expect(try store.ls("kept").count == kept.count)
        #expect(try store.cat(Digest.sha256(kept[0].bytes).hex) == Data(kept[0].bytes))
        let embedded = try CLIStore(temp.appending("local")).run(["gc", "--grace", "10"])
        #expect(embedded.status == 64 && embedded.stderrText.contains("--grace"), "\(embedded)")
    }
}
