import Foundation
import LoomStore
import LoomTestSupport
import Testing

extension CLITests {
    @Test("fleet store: four loom generate processes share one run; one is killed -9 mid-run and its leased jobs are finished by the others after --lease; every (prompt, index) has exactly one image, as in a one-process run",
          FleetEngines.required)
    func fleetGenerateWithAKilledWorker() async throws {
        let engines = try await FleetEngines.start(prefix: "generate")
        let temp = try ScratchDirectory()
        try DatasetMaker.write(DatasetMaker.pictures(classes: ["a", "b", "c"], perClass: 2, split: "train", seed: 31), into: temp, root: "data")
        let generate = ["generate", "--dataset", "d", "--prompts", "class-name", "--backend", "builtin:procedural",
                        "--per-prompt", "100", "--seed", "5", "--size", "192x192", "--batch", "8", "--json"]
        func prepare(_ store: CLIStore) throws {
            try store.ingest(temp.appending("data"), dataset: "d")
            try store.ok(["prompts", "--dataset", "d", "--strategy", "class-name"])
        }
        let local = CLIStore(temp.appending("local"))
        try prepare(local)
        try local.ok(generate)
        let expected = Set(try local.ok(["synthetic", "--dataset", "d", "--json"]).decodeLines(CLITests.SyntheticLine.self))
        #expect(expected.count == 300)

        let machines = (0..<4).map { engines.workingFolder(temp.appending("machine-\($0)"), viaVariables: true) }
        try prepare(machines[0])
        func sql(_ query: String) throws -> [[String: String]] {
            let lines = try machines[0].ok(["sql", "--json", query]).stdoutText.split(separator: "\n")
            return try lines.map { line in
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
                return object.mapValues { "\($0)" }
            }
        }
        let workers = try machines.map { try $0.start(generate + ["--lease", "2"]) }
        // Kill one worker once images are being committed and it holds claimed jobs: stop it
        // first (a partitioned worker), so what it holds cannot change while it is looked at.
        let victim = workers[1]
        let deadline = ContinuousClock.now + .seconds(60)
        var leased: [String] = []
        // First let it plan and claim undisturbed (stopping a process that is still connecting
        // and planning only slows it down).
        while ContinuousClock.now < deadline && victim.isRunning,
              try sql("SELECT 1 AS claimed FROM jobs WHERE lease_owner LIKE '%/\(victim.pid)/%' LIMIT 1").isEmpty {
            try await Task.sleep(for: .milliseconds(10))
        }
        while ContinuousClock.now < deadline && victim.isRunning {
            victim.kill(SIGSTOP)
            leased = try sql("SELECT key FROM jobs WHERE state = 'pending' AND lease_owner LIKE '%/\(victim.pid)/%'").compactMap { $0["key"] }
            if !leased.isEmpty { break }
            victim.kill(SIGCONT)
            // A round (4 batches of 8) takes tens of milliseconds here: stop it at a random
            // moment, so that sooner or later the stop lands inside one.
            try await Task.sleep(for: .milliseconds(Int.random(in: 5...120)))
        }
        victim.kill(SIGKILL)
        let killed = victim.wait()
        #expect(killed.signaled, "the victim finished before it could be killed: \(killed)")
        #expect(!leased.isEmpty, "the victim held no claimed jobs when it was killed")

        for (index, worker) in workers.enumerated() where index != 1 {
            let run = worker.wait(timeout: .seconds(240))
            #expect(run.succeeded, "\(run)")
        }
        let made = try machines[2].ok(["synthetic", "--dataset", "d", "--json"]).decodeLines(CLITests.SyntheticLine.self)
        #expect(made.count == 300, "one image per (prompt, index), not \(made.count)")
        #expect(Set(made) == expected, "the same digests, prompts and seeds as a one-process run")
        let runs = try sql("SELECT status FROM runs WHERE stage = 'generate'")
        #expect(runs.count == 1 && runs.first?["status"] == "finished", "one shared run, finished: \(runs)")
        for key in leased {
            let state = try sql("SELECT state, lease_owner FROM jobs WHERE key = '\(key)'")
            #expect(state.first?["state"] == "done" && state.first?["lease_owner"]?.contains("/\(victim.pid)/") == false,
                    "job \(key) the killed worker held: \(state)")
        }
        try machines[3].expectClean("after four generate workers and a kill")
    }
}
