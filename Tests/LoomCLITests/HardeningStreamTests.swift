import Foundation
import LoomTestSupport
import Testing

/// `loom stream` against batch shapes whose memory is out of all proportion.
extension CLITests {
    @Test("stream: a batch x size past the memory budget is refused before anything is allocated; the budget can be raised",
          .tags(.hardening))
    func streamRefusesBatchesOverTheMemoryBudget() throws {
        let temp = try ScratchDirectory()
        try DatasetMaker.write(DatasetMaker.pictures(classes: ["cat", "dog"], perClass: 3, split: "train"), into: temp, root: "data/train")
        let store = CLIStore(temp.appending("store"))
        _ = try store.ingest(temp.appending("data"), dataset: "pets")

        // 1000 x 4096 x 4096 x 3 is 47 GiB a buffer: the old loader tried to allocate a ring of them.
        let huge = try store.run(["stream", "--dataset", "pets", "--batch", "1000", "--size", "4096", "--workers", "1", "--json"])
        #expect(!huge.signaled && !huge.timedOut && huge.status != 0, "\(huge)")
        #expect(huge.stderrText.contains("per-stream memory budget of 1 GiB") && huge.stderrText.contains("--stream-memory"), "\(huge)")
        // With --json the only stdout is the error object: not one batch was produced.
        #expect(huge.stdoutText.hasPrefix("{\"error\"") && !huge.stdoutText.contains("\"batch\""), "\(huge)")

        // 64 x 224 x 224 x 3 is 9.2 MiB a buffer: two do not fit in 16 MiB, they do in 64 MiB.
        let small = try store.run(["stream", "--dataset", "pets", "--batch", "64", "--size", "224", "--stream-memory", "16MiB", "--json"])
        #expect(small.status != 0 && small.stderrText.contains("budget of 16 MiB"), "\(small)")
        let raised = try store.ok(["stream", "--dataset", "pets", "--batch", "64", "--size", "224", "--stream-memory", "64MiB",
                                   "--workers", "4", "--json"])
        #expect(raised.stdoutText.contains("\"resume\""), "\(raised)")

        // The shared-memory ring's slots count too.
        let ring = try store.run(["stream", "--dataset", "pets", "--batch", "64", "--size", "224", "--stream-memory", "64MiB",
                                  "--shm", "loom-hardening-\(getpid())", "--shm-slots", "8", "--json"])
        #expect(ring.status != 0 && ring.stderrText.contains("10 buffers"), "\(ring)")

        let malformed = try store.run(["stream", "--dataset", "pets", "--stream-memory", "lots"])
        #expect(malformed.status != 0 && malformed.stderrText.contains("--stream-memory"), "\(malformed)")
    }
}
