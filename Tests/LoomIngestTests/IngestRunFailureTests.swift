import Foundation
import LoomIngest
import LoomStore
import LoomTestSupport
import Testing

/// The ingest's run goes through the one run ledger: a commit that throws after the run was
/// recorded leaves it `failed` with the error, not `running` as if the ingest were still going.
@Suite("ingest run failure")
struct IngestRunFailureTests {
    @Test("a batch that cannot commit marks the ingest run failed with the error")
    func failedCommitFailsTheRun() throws {
        let temp = try TemporaryDirectory(prefix: "loom-run-failure-")
        let store = try Store(StoreLayout(root: temp.appending("store")), access: .readWrite)
        let source = try InMemorySource(entries: (0..<3).map {
            .init(path: "cat/\($0).jpg", bytes: FixtureImages.jpeg(width: 40, height: 30, seed: 60 + UInt64($0)))
        })
        var sabotage: (any Error)? = nil
        var sabotaged = false
        #expect(throws: (any Error).self) {
            try Ingestor(store: store, options: .init(dataset: "pets", workers: 1, commitImages: 1)).run(source: source) { progress in
                // After the first batch committed (and with it the run): its class row goes, so the
                // next batch's images break a foreign key and that commit throws.
                guard progress.done == 1, !sabotaged else { return }
                sabotaged = true
                do { try runSQLiteShell(store.layout.catalogPath, "DELETE FROM classes") } catch { sabotage = error }
            }
        }
        #expect(sabotaged && sabotage == nil, "the premise: the sqlite3 shell changed the catalog")
        let runs = try store.read { try $0.runs.runs(RunFilter(stage: .ingest), offset: 0, limit: 10) }
        let run = try #require(runs.first)
        #expect(runs.count == 1 && run.status == .failed && run.finishedAt == nil, "\(runs)")
        let text = try #require(run.summary)
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String])
        #expect(summary["error"]?.contains("FOREIGN KEY") == true, "\(summary)")
    }
}
