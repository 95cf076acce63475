import Foundation
import LoomTestSupport
import Testing

extension CLITests {
    static let foreverSQL = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"

    @Test("loom sql stops a statement at --sql-timeout (and at the default without it) with a clear error and a non-zero exit",
          .tags(.hardening))
    func sqlTimeLimit() throws {
        let temp = try ScratchDirectory()
        let store = CLIStore(temp.appending("store"))
        try DatasetMaker.write(DatasetMaker.pictures(classes: ["cat"], perClass: 1, split: "train", seed: 3), into: temp, root: "data")
        try store.ingest(temp.appending("data"), dataset: "pets")

        let limited = try store.run(["sql", "--sql-timeout", "0.5", Self.foreverSQL], timeout: .seconds(60))
        #expect(!limited.succeeded && !limited.timedOut && !limited.signaled, "\(limited)")
        #expect(limited.stderrText.contains("stopped after 0.5 s") && limited.stderrText.contains("--sql-timeout"), "\(limited.stderrText)")

        let byDefault = try store.run(["sql", Self.foreverSQL], timeout: .seconds(60))
        #expect(!byDefault.succeeded && !byDefault.timedOut, "the default limit must stop it: \(byDefault)")
        #expect(byDefault.stderrText.contains("--sql-timeout"), "\(byDefault.stderrText)")

        for bad in ["0", "-1", "abc", "nan"] {
            let run = try store.run(["sql", "--sql-timeout", bad, "SELECT 1"])
            #expect(!run.succeeded && run.stderrText.contains("--sql-timeout"), "\(bad): \(run)")
        }
        #expect(try store.ok(["sql", "--sql-timeout", "10", "SELECT count(*) AS n FROM v_real_images"]).stdoutText == "n\n1\n")
    }

    @Test("loom sql refuses ATTACH (same answer whether the file exists), fts3_tokenizer and path-revealing pragmas, naming each",
          .tags(.hardening))
    func sqlReadsOnlyTheCatalog() throws {
        let temp = try ScratchDirectory()
        let store = CLIStore(temp.appending("store"))
        try DatasetMaker.write(DatasetMaker.pictures(classes: ["cat"], perClass: 1, split: "train", seed: 4), into: temp, root: "data")
        try store.ingest(temp.appending("data"), dataset: "pets")
        // A second store's catalog: a real SQLite database that ATTACH could have opened.
        let other = CLIStore(temp.appending("other"))
        try other.ingest(temp.appending("data"), dataset: "secret")

        var answers: [String] = []
        for path in [other.catalogPath, "/etc/shadow", temp.appending("missing.sqlite")] {
            let run = try store.run(["sql", "ATTACH DATABASE '\(path)' AS x"])
            #expect(!run.succeeded && run.stderrText.contains("refused") && run.stderrText.contains("ATTACH"), "\(run)")
            answers.append(run.stderrText.replacingOccurrences(of: path, with: "PATH"))
        }
        #expect(Set(answers).count == 1, "\(answers)")
        for (sql, name) in [("SELECT hex(fts3_tokenizer('simple'))", "fts3_tokenizer"), ("PRAGMA database_list", "database_list"),
                            ("SELECT load_extension('x')", "load_extension")] {
            let run = try store.run(["sql", sql])
            #expect(!run.succeeded && run.stderrText.contains(name), "\(sql): \(run)")
            #expect(!run.stdoutText.contains(store.path), "\(sql) printed the store's path: \(run.stdoutText)")
        }
    }

    @Test("loom sql --json with two columns of one name keeps the last, as /v1/sql does, instead of crashing", .tags(.hardening))
    func sqlDuplicateColumnNames() throws {
        let temp = try ScratchDirectory()
        let store = CLIStore(temp.appending("store"))
        try DatasetMaker.write(DatasetMaker.pictures(classes: ["cat"], perClass: 1, split: "train", seed: 5), into: temp, root: "data")
        try store.ingest(temp.appending("data"), dataset: "pets")
        let run = try store.ok(["sql", "SELECT 1 AS a, 2 AS a", "--json"])
        #expect(run.stdoutText == "{\"a\":2}\n", "\(run)")
    }
}
