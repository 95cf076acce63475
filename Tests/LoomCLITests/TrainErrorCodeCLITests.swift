import Foundation
import LoomTestSupport
import Testing

extension CLITests {
    @Test("loom train / experiment --json: a missing dataset is not-found (exit 66), a selection too small to train invalid-argument (64)")
    func trainErrorCodes() throws {
        let temp = try ScratchDirectory()
        let images = DatasetMaker.pictures(classes: ["a", "b"], perClass: 2, split: "train", seed: 563)
        try DatasetMaker.write(images, into: temp, root: "data")
        let store = CLIStore(temp.appending("store"))
        try store.ingest(temp.appending("data"), dataset: "d")
        let cases: [([String], String, Int32)] = [
            (["experiment", "--dataset", "nope", "--reports", temp.appending("reports"), "--json"], "not-found", 66),
            (["train", "--train", "d:train", "--batch", "16", "--epochs", "1", "--json"], "invalid-argument", 64),
        ]
        for (arguments, code, status) in cases {
            let run = try store.run(arguments)
            #expect(run.status == status && !run.signaled, "\(arguments): \(run)")
            #expect(try run.decode(ErrorJSON.self).error.code == code, "\(arguments): \(run)")
        }
    }
}
