import Foundation
import LoomTestSupport
import Testing

extension CLITests {
    /// One line of `loom train --json`: epochs, then the summary.
    struct TrainLine: Decodable {
        var type: String
        var epoch: Int?
        var loss: Double?
        var train_top1: Double?
        var eval_top1: Double?
        var eval_top5: Double?
        var images_per_s: Double?
        var run_id: Int64?
        var resumed_from_epoch: Int?
        var checkpoint: String?
        var blas_kernel: String?
    }

    static func trainingData(_ temp: ScratchDirectory) throws {
        try DatasetMaker.write(DatasetMaker.pictures(classes: ["a", "b"], perClass: 10, split: "train", prefix: "train/", seed: 3), into: temp, root: "data")
        try DatasetMaker.write(DatasetMaker.pictures(classes: ["a", "b"], perClass: 3, split: "val", prefix: "val/", seed: 4), into: temp, root: "data")
    }

    @Test("loom train --json: one line per epoch with the documented keys, then a summary; the run resumes after kill -9 to the same weights")
    func trainPrintsEpochsAndResumesAfterKill() throws {
        let temp = try ScratchDirectory()
        try Self.trainingData(temp)
        let train = ["train", "--train", "d:train", "--eval", "d:val", "--size", "16", "--batch", "4", "--seed", "9",
                     "--threads", "1", "--json"]

        let clean = CLIStore(temp.appending("clean"))
        try clean.ingest(temp.appending("data"), dataset: "d")
        let lines = try clean.ok(train + ["--epochs", "2"]).decodeLines(TrainLine.self)
        #expect(lines.map(\.type) == ["epoch", "epoch", "summary"])
        #expect(lines.prefix(2).map(\.epoch) == [1, 2])
        for line in lines.prefix(2) {
            #expect(line.loss != nil && line.train_top1 != nil && line.eval_top1 != nil && line.eval_top5 != nil && (line.images_per_s ?? 0) > 0)
        }
        #expect(lines[2].run_id != nil && lines[2].blas_kernel?.isEmpty == false)

        let uninterrupted = try clean.ok(train + ["--epochs", "6"]).decodeLines(TrainLine.self).last!
        let store = CLIStore(temp.appending("killed"))
        try store.ingest(temp.appending("data"), dataset: "d")
        let child = try store.start(train + ["--epochs", "6"])
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let done = try store.ok(["sql", "SELECT count(*) AS n FROM train_epochs"]).stdoutText
            if !done.contains("\n0") { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        child.kill()
        let killed = child.wait()
        try store.expectClean("after a kill during train")
        let resumed = try store.ok(train + ["--epochs", "6", "--resume"]).decodeLines(TrainLine.self)
        let summary = resumed.last!
        #expect(summary.type == "summary")
        #expect(killed.signaled, "the kill landed after training had finished")
        #expect((summary.resumed_from_epoch ?? 0) >= 1, "\(resumed)")
        #expect(resumed.first?.epoch == (summary.resumed_from_epoch ?? 0) + 1, "epochs continue after the checkpoint")
        #expect(summary.checkpoint == uninterrupted.checkpoint, "same seed and data: the same final weights")
    }

    @Test("loom train names bad selections and options")
    func trainRefusesBadInput() throws {
        let temp = try ScratchDirectory()
        try Self.trainingData(temp)
        let store = CLIStore(temp.appending("store"))
        try store.ingest(temp.appending("data"), dataset: "d")
        let base = ["train", "--eval", "d:val", "--size", "16", "--batch", "4", "--epochs", "1"]
        let cases: [([String], String)] = [
            (["--train", "d:synthetic:class-caption"], "no images"),
            (["--train", "d:nosuch"], "no split \"nosuch\""),
            (["--train", "x:train"], "no dataset named \"x\""),
            (["--train", "d:train", "--model", "alexnet"], "unknown model \"alexnet\""),
            (["--train", "d:train", "--lr", "-1"], "--lr"),
        ]
        for (extra, message) in cases {
            let run = try store.run(base + extra)
            #expect(!run.succeeded && run.stderrText.contains(message), "\(extra): \(run.stderrText)")
        }
    }
}
