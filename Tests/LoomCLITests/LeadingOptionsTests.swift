import Foundation
import LoomTestSupport
import Testing

extension CLITests {
    @Test("--store and --json before the subcommand, git-style, work as after it")
    func storeOptionsBeforeTheSubcommand() throws {
        let temp = try ScratchDirectory()
        try DatasetMaker.write(DatasetMaker.pictures(classes: ["cat", "dog"], perClass: 2, split: "train"), into: temp, root: "data")
        let storePath = temp.appending("store")
        // LOOM_STORE names another folder: only the leading --store can put the store at storePath.
        let environment = ["LOOM_STORE": temp.appending("unused")]
        func ok(_ arguments: [String]) throws -> LoomRun {
            let run = try Loom.run(arguments, environment: environment)
            #expect(run.succeeded, "\(run)")
            return run
        }
        let ingest = try ok(["--store", storePath, "--json", "ingest", temp.appending("data"), "--dataset", "pets"])
        #expect(ingest.stdoutText.contains("\"added\" : 4") || ingest.stdoutText.contains("\"added\":4"), "\(ingest)")
        let stats = try ok(["--store=\(storePath)", "stats", "--json"])
        #expect(stats.stdoutText.contains("pets"), "\(stats)")
        let listed = try ok(["--store", storePath, "ls", "--dataset", "pets"])
        #expect(listed.stdoutText.split(separator: "\n").count >= 4, "\(listed)")
        #expect(!FileManager.default.fileExists(atPath: temp.appending("unused")), "the leading --store is the one used")
        // A --store after the subcommand is the more specific one and wins over a leading one.
        let specific = try Loom.run(["--store", temp.appending("other"), "stats", "--json", "--store", storePath], environment: environment)
        #expect(specific.succeeded && specific.stdoutText.contains("pets"), "\(specific)")
    }
}
