import Foundation
import LoomTestSupport
import Testing

/// `POST /v1/ingest` ingests the parsed parts from memory: nothing is written to a scratch
/// folder and read back.
@Suite("POST /v1/ingest from memory", .serialized)
struct IngestFromMemoryTests {
    @Test("uploads go in with no usable temporary folder, and the run's root is `upload`, not a scratch path")
    func noScratchFolder() throws {
        let fixture = try ServerFixture(classes: ["cat"], trainPerClass: 1, valPerClass: 0)
        let scratch = try TemporaryDirectory(prefix: "loom-no-tmp-")
        // A file where the temporary folder should be: no folder can be made below it.
        let notAFolder = try scratch.write("not a folder", to: "tmp")
        try fixture.start(environment: ["TMPDIR": notAFolder])
        defer { _ = try? fixture.stop() }
        let image = FixtureImages.jpeg(width: 40, height: 30, seed: 501)
        let (type, body) = ServerFixture.multipart([("a.jpg", image)])
        let reply = try fixture.post("/v1/ingest?dataset=uploads&class=bird", headers: [fixture.authorization, ("Content-Type", type)],
                                     body: body)
        #expect(reply.status == 200, "\(reply)")
        let summary = try reply.json()
        #expect(summary["added"] as? Int == 1 && summary["root"] as? String == "upload", "\(summary)")

        let runs = try fixture.get("/v1/runs?limit=50").json()["runs"] as? [[String: Any]] ?? []
        let ingest = try #require(runs.first { $0["stage"] as? String == "ingest" && $0["dataset"] as? String == "uploads" }, "\(runs)")
        #expect(ingest["status"] as? String == "finished")
        #expect((ingest["config"] as? [String: Any])?["root"] as? String == "upload", "\(ingest)")
        #expect((ingest["summary"] as? [String: Any])?["root"] as? String == "upload", "\(ingest)")
    }
}
