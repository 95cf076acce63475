import Foundation
import LoomStore
import LoomTestSupport
import Testing

extension CLITests {
    struct GenerateJSON: Decodable {
        var run_id: Int64
        var resumed: Bool
        var planned: Int
        var generated: Int
        var skipped: Int
        var failed: [Failure]
        struct Failure: Decodable { var prompt_id: Int64; var seed: Int64; var error: String }
    }

    struct SyntheticLine: Decodable, Hashable {
        var digest: String
        var prompt: String
        var strategy: String
        var seed: Int64
    }

    @Test("kill -9 during loom generate, then the same command: only the missing images are made, and the result equals an uninterrupted run")
    func generateResumesAfterKill() throws {
        let temp = try ScratchDirectory()
        let images = DatasetMaker.pictures(classes: ["a", "b", "c"], perClass: 2, split: "train", seed: 31)
        try DatasetMaker.write(images, into: temp, root: "data")
        let generate = ["generate", "--dataset", "d", "--prompts", "class-name", "--backend", "builtin:procedural",
                        "--per-prompt", "40", "--seed", "5", "--size", "192x192", "--batch", "2", "--json"]
        func prepare(_ store: CLIStore) throws {
            try store.ingest(temp.appending("data"), dataset: "d")
            try store.ok(["prompts", "--dataset", "d", "--strategy", "class-name"])
        }

        let clean = CLIStore(temp.appending("clean"))
        try prepare(clean)
        let uninterrupted = try clean.ok(generate).decode(GenerateJSON.self)
        #expect(uninterrupted.generated == 120 && uninterrupted.failed.isEmpty)
        let expected = Set(try clean.ok(["synthetic", "--dataset", "d", "--json"]).decodeLines(SyntheticLine.self))
        #expect(expected.count == 120)

        let store = CLIStore(temp.appending("killed"))
        try prepare(store)
        var kills = 0
        // Each kill waits until this run has committed more images than the last (or 20 s), so
        // it lands mid-run however loaded the machine is; fixed delays killed before the first
        // commit on a busy machine.
        func committed() throws -> Int {
            let rows = try store.ok(["sql", "--json", "SELECT count(*) AS n FROM synthetic_images"]).stdoutText
            return Int(rows.split(whereSeparator: { !$0.isNumber }).first ?? "0") ?? 0
        }
        for delay in [0, 150, 300] {
            let before = try committed()
            let child = try store.start(generate)
            let deadline = ContinuousClock.now + .seconds(20)
            while try committed() <= before, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.05) }
            Thread.sleep(forTimeInterval: Double(delay) / 1000)
            child.kill()
            let run = child.wait()
            if run.signaled { kills += 1 }
            try store.expectClean("after a kill during generate")
        }
        let resumed = try store.ok(generate).decode(GenerateJSON.self)
        #expect(resumed.failed.isEmpty)
        let made = Set(try store.ok(["synthetic", "--dataset", "d", "--json"]).decodeLines(SyntheticLine.self))
        #expect(made == expected, "same digests, prompts and seeds as the uninterrupted run")
        // 120 images take seconds in a debug build: the kills land mid-run, so this tests something.
        #expect(kills >= 1, "no kill interrupted a running generate")
        #expect(resumed.resumed, "the interrupted run is continued, not planned anew")
        #expect(resumed.skipped > 0 && resumed.generated < 120, "\(resumed)")
        let again = try store.ok(generate).decode(GenerateJSON.self)
        #expect(again.generated == 0 && again.skipped == 120)
        try store.expectClean("after resume")
    }
}
