import Foundation
import Glibc
import LoomStore
import LoomTestSupport
import Testing

extension ServerTests {
    /// Runs `loom ARGUMENTS --shm NAME` with a 2-slot ring and reads every batch it publishes.
    func ringBatches(_ arguments: [String], fixture: ServerFixture) throws -> [RingReader.Batch] {
        let name = ringName()
        defer { shm_unlink("/" + name) }
        let producer = try Child(arguments + ["--shm", name, "--shm-slots", "2"], directory: fixture.scratch.path)
        let reader = try RingReader(name: name)
        var batches: [RingReader.Batch] = []
        while let batch = try reader.read() { batches.append(batch) }
        let run = producer.wait()
        #expect(run.status == 0, "\(run)")
        return batches
    }

    @Test("loom stream --shm puts exactly the batches of loom stream --json into the ring")
    func streamIntoSharedMemory() throws {
        let fixture = try ServerFixture()
        let arguments = ["stream", "--selection", "pets:train*2+pets:val", "--batch", "5", "--size", "24", "--augment", "train",
                         "--seed", "4", "--epoch", "1", "--json", "--store", fixture.store]
        let expected = try Loom.ok(arguments, in: fixture.scratch.path).jsonLines()
        let lines = expected.dropLast().compactMap { $0 as? [String: Any] }
        let batches = try ringBatches(arguments, fixture: fixture)
        #expect(batches.count == lines.count && lines.count >= 3, "\(lines.count) batches")
        for (batch, line) in zip(batches, lines) {
            #expect(String(Digest.sha256(batch.pixels).hex.prefix(16)) == line["checksum"] as? String)
            #expect(batch.labels == (line["labels"] as? [Int])?.map(Int64.init))
        }
        #expect(batches.last?.cursor == (expected.last as? [String: Any])?["resume"] as? String)
    }

    @Test("loom stream --epochs 3 gives the three single-epoch streams one after another, in its lines and in one ring")
    func streamEpochsIntoSharedMemory() throws {
        let fixture = try ServerFixture()
        let base = ["stream", "--selection", "pets:train", "--batch", "5", "--size", "16", "--augment", "train", "--seed", "4",
                    "--json", "--store", fixture.store]
        let single = try (2...4).map { epoch in
            try Loom.ok(base + ["--epoch", String(epoch)], in: fixture.scratch.path).jsonLines().compactMap { $0 as? [String: Any] }
        }
        let arguments = base + ["--epoch", "2", "--epochs", "3"]
        let together = try Loom.ok(arguments, in: fixture.scratch.path).jsonLines().compactMap { $0 as? [String: Any] }
        let expected = single.flatMap { $0.dropLast() }
        let lines = together.dropLast()
        #expect(lines.count == 9 && expected.count == 9)
        #expect(lines.map { $0["checksum"] as? String } == expected.map { $0["checksum"] as? String })
        #expect(lines.map { $0["epoch"] as? Int } == [2, 2, 2, 3, 3, 3, 4, 4, 4])
        #expect(lines.map { $0["index"] as? Int } == [0, 1, 2, 0, 1, 2, 0, 1, 2])
        #expect(together.last?["resume"] as? String == single.last?.last?["resume"] as? String)
        #expect(together.last?["batches"] as? Int == 9)

        let batches = try ringBatches(arguments, fixture: fixture)
        #expect(batches.map { String(Digest.sha256($0.pixels).hex.prefix(16)) } == expected.map { $0["checksum"] as? String })
        #expect(batches.indices.filter { batches[$0].lastOfEpoch } == [2, 5, 8])
        #expect(batches.last?.cursor == single.last?.last?["resume"] as? String)
    }
}
