import Foundation
import LoomStore
import LoomTestSupport
import Testing

extension CLITests {
    @Test("loom sql answers read-only queries and refuses every write, leaving the catalog unchanged")
    func sqlIsReadOnly() throws {
        let temp = try ScratchDirectory()
        let images = DatasetMaker.pictures(classes: ["cat", "dog"], perClass: 3, split: "train", seed: 7)
        try DatasetMaker.write(images, into: temp, root: "data")
        let store = CLIStore(temp.appending("store"))
        try store.ingest(temp.appending("data"), dataset: "pets")

        let counts = try store.ok(["sql", "SELECT class, count(*) AS n FROM v_real_images GROUP BY class ORDER BY class"])
        #expect(counts.stdoutText == "class\tn\ncat\t3\ndog\t3\n", "\(counts)")

        struct Row: Decodable { var digest: String; var path: String }
        let rows = try store.ok(["sql", "SELECT digest, path FROM v_real_images ORDER BY path", "--json"]).decodeLines(Row.self)
        #expect(rows.map(\.path) == images.map { $0.path }.sorted())
        #expect(Set(rows.map(\.digest)) == Set(images.map { Digest.sha256($0.bytes).hex }))

        let before = try store.stats()
        for write in [
            "DELETE FROM real_images",
            "UPDATE blobs SET codec = 'lz4'",
            "INSERT INTO datasets (name) VALUES ('x')",
            "DROP TABLE shards",
            "CREATE TABLE t (a)",
            "PRAGMA user_version = 99",
            "ATTACH DATABASE '\(temp.appending("other.db"))' AS other",
        ] {
            let run = try store.run(["sql", write])
            #expect(!run.succeeded, "\(write) must be refused: \(run)")
            #expect(run.stderrText.contains("read-only") || run.stderrText.contains("unable to open"), "\(write): \(run.stderrText)")
        }
        #expect(!FileManager.default.fileExists(atPath: temp.appending("other.db")))
        let after = try store.stats()
        #expect(after.datasets == before.datasets && after.blobs == before.blobs)
        let version = try store.ok(["sql", "PRAGMA user_version"]).stdoutText
        #expect(version.hasPrefix("user_version\n") && !version.contains("99"), "\(version)")
        try store.expectClean("after refused writes")

        let bad = try store.run(["sql", "SELEC nothing"])
        #expect(!bad.succeeded && bad.stderrText.contains("syntax error"), "\(bad)")
    }
}
