import Foundation
import LoomStore
import LoomTestSupport
import Testing

extension CLITests {
    struct FleetCaptionJSON: Decodable {
        struct Failure: Decodable { var path: String; var error: String }
        var captioned: Int
        var skipped: Int
        var failed: [Failure]
    }

    @Test("fleet store: two loom caption processes at once divide the images between them: each captions some, together every image exactly once, one shared run",
          FleetEngines.required)
    func fleetCaptionDividesTheWork() async throws {
        let engines = try await FleetEngines.start(prefix: "caption")
        let temp = try ScratchDirectory()
        let images = DatasetMaker.bulk(count: 1200, classes: ["a", "b"], split: "train", bases: 6, baseSize: (96, 72), tag: "caption")
        try DatasetMaker.write(images, into: temp, root: "data")
        let machines = (0..<2).map { engines.workingFolder(temp.appending("machine-\($0)"), viaVariables: true) }
        try machines[0].ingest(temp.appending("data"), dataset: "d")
        let caption = ["caption", "--dataset", "d", "--backend", "builtin:stats", "--batch", "8", "--lease", "60", "--json"]
        func claimed(_ child: LoomChild) throws -> Bool {
            try !machines[1].ok(["sql", "--json", "SELECT 1 AS c FROM jobs WHERE lease_owner LIKE '%/\(child.pid)/%' LIMIT 1"])
                .stdoutText.isEmpty
        }
        // The first holds still once it has claimed a round, until the second has claimed one
        // too: both are then at work on the run, however fast this machine captions.
        let first = try machines[0].start(caption)
        let deadline = ContinuousClock.now + .seconds(60)
        while first.isRunning, ContinuousClock.now < deadline, try !claimed(first) { try await Task.sleep(for: .milliseconds(10)) }
        first.kill(SIGSTOP)
        let second = try machines[1].start(caption)
        while second.isRunning, ContinuousClock.now < deadline, try !claimed(second) { try await Task.sleep(for: .milliseconds(10)) }
        first.kill(SIGCONT)
        let runs = [first, second].map { $0.wait(timeout: .seconds(240)) }
        for run in runs { #expect(run.succeeded, "\(run)") }
        guard runs.allSatisfy(\.succeeded) else { return }
        let summaries = try runs.map { try $0.decode(FleetCaptionJSON.self) }
        let failures = summaries.flatMap(\.failed).map { "\($0.path): \($0.error)" }
        #expect(failures.isEmpty, "\(failures)")
        #expect(summaries.reduce(0) { $0 + $1.captioned } == images.count, "captioned \(summaries.map(\.captioned)): the work was not divided")
        #expect(summaries.allSatisfy { $0.captioned > 0 }, "one process captioned everything: \(summaries.map(\.captioned))")
        func sql(_ query: String) throws -> String {
            try machines[1].ok(["sql", "--json", query]).stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(try sql("SELECT count(*) AS n, count(DISTINCT real_image_id) AS d FROM captions") == #"{"d":\#(images.count),"n":\#(images.count)}"#)
        #expect(try sql("SELECT status FROM runs WHERE stage = 'caption'") == #"{"status":"finished"}"#)
    }
}
