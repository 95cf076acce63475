import Foundation
import LoomStore
import LoomTestSupport
import Testing

extension CLITests {
    @Test("fleet store: the object store killed mid-ingest: the ingest fails naming the endpoint, nothing is half-committed, and once it is back a rerun completes and verifies clean",
          FleetEngines.required)
    func fleetObjectStoreOutageDuringIngest() async throws {
        let engines = try await FleetEngines.start(prefix: "outage")
        let temp = try ScratchDirectory()
        let images = DatasetMaker.bulk(count: 6000, classes: ["a", "b", "c"], split: "train", tag: "outage")
        try DatasetMaker.write(images, into: temp, root: "data")
        let store = engines.workingFolder(temp.appending("work"), viaVariables: true)
        try store.ok(["init"])
        func count(_ table: String) throws -> Int {
            let text = try store.ok(["sql", "--json", "SELECT count(*) AS n FROM \(table)"]).stdoutText
            return Int(text.split(whereSeparator: { !$0.isNumber }).first ?? "0") ?? 0
        }
        // Ingest commits every 1024 images: the object store goes away once the first commit is
        // seen, with several uploads still to come.
        let ingest = store.ingestArguments(temp.appending("data"), dataset: "d")
        let child = try store.start(ingest)
        let deadline = ContinuousClock.now + .seconds(60)
        while child.isRunning, ContinuousClock.now < deadline, try count("blobs") == 0 {
            try await Task.sleep(for: .milliseconds(20))
        }
        // Stopped while the object store goes away, so its next upload meets the outage
        // however fast this machine ingests.
        child.kill(SIGSTOP)
        #expect(child.isRunning, "the ingest ended before the object store could be killed")
        engines.seaweed.kill()
        child.kill(SIGCONT)
        let failed = child.wait(timeout: .seconds(180))
        #expect(!failed.succeeded && !failed.signaled, "\(failed)")
        #expect(failed.stderrText.contains("127.0.0.1:\(engines.seaweed.s3Port)"), "the error names the endpoint: \(failed.stderrText)")
        let committed = try count("real_images")
        print("outage: the ingest failed after \(String(format: "%.1f", failed.seconds)) s with \(committed) of \(images.count) images committed: \(failed.stderrText.suffix(600))")
        #expect(committed < images.count, "the ingest finished before the outage: nothing tested")

        try await engines.seaweed.start()
        // Every committed row's bytes are in the object store: verify reads them all.
        try store.expectClean("after the outage, before the rerun")
        let rerun = try store.ingest(temp.appending("data"), dataset: "d")
        #expect(rerun.added + rerun.unchanged == images.count, "\(rerun)")
        #expect(try count("real_images") == images.count)
        try store.expectClean("after the rerun")
    }
}
