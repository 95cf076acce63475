import Foundation
import Glibc
import LoomStore
import LoomTestSupport
import Testing

extension ServerTests {
    @Test("loom stream --shm puts exactly the batches of loom stream --json into the ring")
    func streamIntoSharedMemory() throws {
        let fixture = try ServerFixture()
        let arguments = ["stream", "--selection", "pets:train*2+pets:val", "--batch", "5", "--size", "24", "--augment", "train",
                         "--seed", "4", "--epoch", "1", "--json", "--store", fixture.store]
        let expected = try Loom.ok(arguments, in: fixture.scratch.path).jsonLines()
        let lines = expected.dropLast().compactMap { $0 as? [String: Any] }
        let name = ringName()
        defer { shm_unlink("/" + name) }
        let producer = try Child(arguments + ["--shm", name, "--shm-slots", "2"], directory: fixture.scratch.path)
        let reader = try RingReader(name: name)
        var batches: [RingReader.Batch] = []
        while let batch = try reader.read() { batches.append(batch) }
        let run = producer.wait()
        #expect(run.status == 0, "\(run)")
        #expect(batches.count == lines.count && lines.count >= 3, "\(lines.count) batches")
        for (batch, line) in zip(batches, lines) {
            #expect(String(Digest.sha256(batch.pixels).hex.prefix(16)) == line["checksum"] as? String)
            #expect(batch.labels == (line["labels"] as? [Int])?.map(Int64.init))
        }
        #expect(batches.last?.cursor == (expected.last as? [String: Any])?["resume"] as? String)
    }
}
