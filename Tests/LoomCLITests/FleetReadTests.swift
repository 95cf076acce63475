import Foundation
import LoomStore
import LoomTestSupport
import Testing

extension CLITests {
    @Test("fleet store: two reader ranks in separate processes on empty caches (one smaller than a shard) are disjoint, cover the epoch and match the local store's ranks batch for batch; the cache stays under --cache-size",
          FleetEngines.required)
    func fleetReaderRanks() async throws {
        let engines = try await FleetEngines.start(prefix: "readers")
        let temp = try ScratchDirectory()
        let images = DatasetMaker.pictures(classes: ["a", "b"], perClass: 12, split: "train", seed: 8)
            + DatasetMaker.bulk(count: 400, classes: ["a", "b"], split: "train", prefix: "", tag: "ranks")
        try DatasetMaker.write(images, into: temp, root: "data")
        let local = CLIStore(temp.appending("local"))
        try local.ingest(temp.appending("data"), dataset: "d")
        let writer = engines.workingFolder(temp.appending("writer"), viaVariables: true)
        try writer.ingest(temp.appending("data"), dataset: "d", ["--workers", "1"])

        let smallCache = 48 << 10
        let stream = ["stream", "--dataset", "d", "--batch", "16", "--size", "32", "--seed", "11", "--epoch", "1", "--world", "2", "--json"]
        let readers = [
            try engines.workingFolder(temp.appending("rank-0"), viaVariables: true)
                .start(stream + ["--rank", "0", "--cache-size", "\(smallCache)"]),
            try engines.workingFolder(temp.appending("rank-1"), viaVariables: true).start(stream + ["--rank", "1"]),
        ]
        let runs = readers.map { $0.wait(timeout: .seconds(180)) }
        for run in runs { #expect(run.succeeded, "\(run)") }
        guard runs.allSatisfy(\.succeeded) else { return }
        var seen: [[String]] = []
        for rank in 0..<2 {
            let expected = try local.ok(stream + ["--rank", "\(rank)"])
            #expect(streamBatches(runs[rank]) == streamBatches(expected), "rank \(rank): the local store's batches, byte for byte")
            struct Batch: Decodable { var digests: [String]? }  // the last line (totals) has none
            seen.append(try runs[rank].decodeLines(Batch.self).flatMap { $0.digests ?? [] })
        }
        #expect(Set(seen[0]).isDisjoint(with: seen[1]), "the ranks share samples")
        #expect(Set(seen[0]).union(seen[1]) == Set(images.map { Digest.sha256($0.bytes).hex }), "the ranks do not cover the epoch")
        let cache = temp.appending("rank-0/shard-cache")
        let cached = try FileManager.default.contentsOfDirectory(atPath: cache).reduce(0) { total, name in
            total + ((try FileManager.default.attributesOfItem(atPath: cache + "/" + name)[.size] as? NSNumber)?.intValue ?? 0)
        }
        #expect(cached <= smallCache, "rank 0's cache holds \(cached) bytes, over its --cache-size \(smallCache)")
        let shardBytes = try writer.stats().shards.bytes
        #expect(shardBytes > smallCache, "the store (\(shardBytes) bytes) fits the small cache: nothing tested")
    }
}
