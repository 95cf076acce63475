import Foundation
import LoomTestSupport
import Testing

extension CLITests {
    @Test("loom ingest --json: a missing folder or labels file is not-found, a malformed one invalid-argument")
    func ingestErrorCodes() throws {
        let temp = try ScratchDirectory()
        let images = DatasetMaker.pictures(classes: ["a"], perClass: 1, split: "train", seed: 561)
        try DatasetMaker.write(images, into: temp, root: "data")
        let store = CLIStore(temp.appending("store"))
        let malformed = temp.appending("names.txt")
        try Data("one-field-only\n".utf8).write(to: URL(fileURLWithPath: malformed))
        let cases: [([String], String)] = [
            (["ingest", temp.appending("nope"), "--dataset", "D", "--json"], "not-found"),
            (["ingest", temp.appending("data"), "--dataset", "D", "--classes", temp.appending("none.txt"), "--json"], "not-found"),
            (["ingest", temp.appending("data"), "--dataset", "D", "--class-names", malformed, "--json"], "invalid-argument"),
        ]
        for (arguments, code) in cases {
            let run = try store.run(arguments)
            #expect(!run.succeeded && !run.signaled, "\(arguments)")
            #expect(try run.decode(ErrorJSON.self).error.code == code, "\(arguments): \(run)")
        }
    }
}
