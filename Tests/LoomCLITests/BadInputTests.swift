import Foundation
import LoomTestSupport
import Testing

extension CLITests {
    @Test("bad files are rejected one by one, with reasons, and the good ones still go in")
    func badInputEndToEnd() throws {
        let temp = try ScratchDirectory()
        let good = DatasetMaker.pictures(classes: ["good", "mixed"], perClass: 3, split: "train", seed: 41)
        try DatasetMaker.write(good, into: temp, root: "data")
        let mixed = temp.appending("data/mixed")

        // Each bad entry, with words its reason must contain (any one of them, case-insensitive).
        var expected: [String: [String]] = [:]
        try temp.write([UInt8](), to: "data/mixed/empty.jpg")
        expected["mixed/empty.jpg"] = ["empty"]
        try temp.write(FixtureImages.truncatedJPEG(width: 96, height: 72, seed: 42), to: "data/mixed/truncated.jpg")
        expected["mixed/truncated.jpg"] = []
        try temp.write(FixtureImages.textFile, to: "data/mixed/x.jpg")
        expected["mixed/x.jpg"] = ["not a jpeg", "not an image"]
        try temp.makeDirectory("data/mixed/d.jpg")
        expected["mixed/d.jpg"] = ["directory"]
        try Files.symlink(mixed + "/broken.jpg", pointingTo: "no-such-file.jpg")
        expected["mixed/broken.jpg"] = ["link"]
        try Files.symlink(mixed + "/loop_a.jpg", pointingTo: "loop_b.jpg")
        try Files.symlink(mixed + "/loop_b.jpg", pointingTo: "loop_a.jpg")
        expected["mixed/loop_a.jpg"] = ["link"]
        expected["mixed/loop_b.jpg"] = ["link"]
        let rawName = Array("bad".utf8) + [0xFF] + Array(".jpg".utf8)
        try Files.createRawNamed(rawName, in: mixed, contents: FixtureImages.jpeg(width: 64, height: 48, seed: 43))
        defer { Files.removeRawNamed(rawName, in: mixed) }
        expected["mixed/bad\\xFF.jpg"] = ["utf-8"]
        try temp.write(FixtureImages.hugeHeaderJPEG(), to: "data/mixed/huge.jpg")
        expected["mixed/huge.jpg"] = ["limit", "pixels"]

        let store = CLIStore(temp.appending("store"))
        let run = try store.ok(store.ingestArguments(temp.appending("data"), dataset: "messy"))
        let summary = try run.decode(IngestJSON.self)
        let rejected = Dictionary(summary.rejected.map { ($0.path, $0.reason) }) { first, _ in first }
        #expect(summary.rejected.count == expected.count, "each bad entry is rejected once: \(summary.rejected)")
        #expect(Set(rejected.keys) == Set(expected.keys),
                "rejected \(rejected.keys.sorted()), expected \(expected.keys.sorted())\n\(run)")
        for (path, words) in expected {
            guard let reason = rejected[path] else { continue }
            #expect(!reason.trimmingCharacters(in: .whitespaces).isEmpty, "\(path) is rejected without a reason")
            if !words.isEmpty {
                #expect(words.contains { reason.lowercased().contains($0) }, "reason for \(path) should mention \(words): \(reason)")
            }
        }
        #expect(summary.added == good.count, "\(summary)")

        let lines = try store.ls("messy")
        Self.expectListing(lines, match: good, classOrder: ["good", "mixed"])
        try store.expectClean()

        // --strict: the same rejections make the run exit 2 (the good files are in either way).
        let strictStore = CLIStore(temp.appending("strict-store"))
        let strict = try strictStore.run(strictStore.ingestArguments(temp.appending("data"), dataset: "messy", ["--strict"]))
        #expect(strict.status == 2 && !strict.signaled, "--strict with rejections must exit 2\n\(strict)")
        #expect(try strict.decode(IngestJSON.self).rejected.count == expected.count)
        #expect(try strictStore.ls("messy").count == good.count)

        // Text mode names each rejected file on stderr.
        let text = try CLIStore(temp.appending("text-store")).run(["ingest", temp.appending("data"), "--dataset", "messy"])
        #expect(text.status == 0, "\(text)")
        #expect(text.stderrText.contains("mixed/huge.jpg") && text.stderrText.contains("rejected"), "\(text)")
    }

    @Test("errors name what is wrong: missing store, bad digest, missing dataset folder")
    func errorsAreClear() throws {
        let temp = try ScratchDirectory()

        let noStore = try Loom.run(["stats", "--store", "/nonexistent/x"])
        #expect(noStore.succeeded == false && !noStore.signaled, "\(noStore)")
        #expect(noStore.stderrText.contains("/nonexistent/x"), "the error should name the store path\n\(noStore)")
        #expect(noStore.stdout.isEmpty, "errors go to stderr\n\(noStore)")
        #expect(!FileManager.default.fileExists(atPath: "/nonexistent/x"), "a read-only command must not create a store")

        let verifyMissing = try Loom.run(["verify", "--store", temp.appending("nothing-here")])
        #expect(!verifyMissing.succeeded && verifyMissing.stderrText.contains(temp.appending("nothing-here")), "\(verifyMissing)")

        // A store with something in it, for the cat errors.
        let store = CLIStore(temp.appending("store"))
        let images = DatasetMaker.pictures(classes: ["c"], perClass: 2, split: "train", seed: 51)
        try DatasetMaker.write(images, into: temp, root: "data")
        try store.ingest(temp.appending("data"), dataset: "d")

        let badDigest = try store.run(["cat", "zzzz"])
        #expect(!badDigest.succeeded && !badDigest.signaled, "\(badDigest)")
        #expect(badDigest.stderrText.contains("zzzz"), "the error should quote the argument\n\(badDigest)")
        #expect(badDigest.stderrText.lowercased().contains("digest"), "\(badDigest)")
        #expect(badDigest.stdout.isEmpty, "\(badDigest)")

        // A well-formed prefix that matches nothing.
        let known = Set(try store.ls("d").map { $0.digest.prefix(4) })
        let absent = (0..<65536).lazy.map { String(format: "%04x", $0) }.first { !known.contains(Substring($0)) }!
        let noMatch = try store.run(["cat", absent])
        #expect(!noMatch.succeeded && noMatch.stderrText.contains(absent), "\(noMatch)")
        #expect(noMatch.stdout.isEmpty, "\(noMatch)")

        let noDataset = try store.run(["ls", "--dataset", "nope"])
        #expect(!noDataset.succeeded && noDataset.stderrText.contains("nope"), "\(noDataset)")

        let missingRoot = try store.run(["ingest", "/nonexistent", "--dataset", "x"])
        #expect(!missingRoot.succeeded && !missingRoot.signaled, "\(missingRoot)")
        #expect(missingRoot.stderrText.contains("/nonexistent"), "the error should name the folder\n\(missingRoot)")
        // The failed ingest left the store as it was.
        #expect(try store.stats().datasets.map(\.name) == ["d"])
        try store.expectClean()
    }
}
