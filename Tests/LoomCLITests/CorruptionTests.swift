import Foundation
import LoomStore
import LoomTestSupport
import Testing

extension CLITests {
    @Test("a flipped byte in a shard is found by verify and refused by cat and export")
    func corruptionIsDetected() throws {
        let temp = try ScratchDirectory()
        let images = DatasetMaker.pictures(classes: ["a", "b"], perClass: 4, split: "train", seed: 61)
        try DatasetMaker.write(images, into: temp, root: "data")
        // The victim's bytes appear under a second path too: verify must name both rows.
        let victim = images[2]
        try temp.write(victim.bytes, to: "data/b/same-bytes-as-victim.jpg")
        let store = CLIStore(temp.appending("store"))
        try store.ingest(temp.appending("data"), dataset: "D")
        try store.expectClean("before the damage")

        let victimDigest = Digest.sha256(victim.bytes).hex
        let info = try store.ok(["cat", "--json", String(victimDigest.prefix(16))]).decode(CatInfo.self)
        #expect(info.digest == victimDigest)
        #expect(info.bytes == victim.bytes.count)
        #expect(info.shard == "000001.loom")
        let shardPath = store.shardsDirectory + "/" + info.shard
        // Record header is 64 bytes; flip one byte in the middle of the payload.
        let payloadOffset = info.offset + 64
        #expect(try Files.read(shardPath)[payloadOffset..<(payloadOffset + victim.bytes.count)] == victim.bytes[...],
                "cat --json offset + 64 should be where the original bytes start (raw codec)")
        try Files.flipByte(in: shardPath, at: payloadOffset + victim.bytes.count / 2)

        let (run, report) = try store.verify()
        #expect(run.status == 1, "verify must exit 1 on a damaged record\n\(run)")
        #expect(!report.ok)
        #expect(report.problems.count == 1, "exactly the damaged record is reported: \(report.problems.map(\.reason))")
        if let problem = report.problems.first {
            #expect(problem.shard == "000001.loom")
            #expect(problem.digest == victimDigest)
            #expect(problem.offset == info.offset)
            #expect(!problem.reason.isEmpty)
            #expect(Set(problem.rows) == [
                VerifyJSON.Row(dataset: "D", split: "train", path: victim.path),
                VerifyJSON.Row(dataset: "D", split: "train", path: "b/same-bytes-as-victim.jpg"),
            ], "affected rows: \(problem.rows)")
        }
        // Text mode: same verdict, says what is broken.
        let text = try store.run(["verify"])
        #expect(text.status == 1 && text.stderrText.contains(victimDigest) && text.stderrText.contains(victim.path), "\(text)")

        let cat = try store.run(["cat", String(victimDigest.prefix(12))])
        #expect(!cat.succeeded && !cat.signaled, "cat of a damaged blob must fail\n\(cat)")
        #expect(cat.stderrText.contains(victimDigest), "the error should name the digest\n\(cat)")
        #expect(cat.stdout.isEmpty, "no damaged bytes may reach stdout\n\(cat)")

        let export = try store.run(["export", "--dataset", "D", temp.appending("out")])
        #expect(!export.succeeded && export.stderrText.contains(victimDigest), "export must refuse the damaged blob\n\(export)")

        // Every other blob still reads back exactly.
        for image in images where image != victim {
            let bytes = try store.cat(String(Digest.sha256(image.bytes).hex.prefix(12)))
            #expect([UInt8](bytes) == image.bytes, "cat of undamaged \(image.path)")
        }
    }

    @Test("verify notices a shard file that is missing or cut short")
    func missingAndTruncatedShards() throws {
        let temp = try ScratchDirectory()
        let images = DatasetMaker.pictures(classes: ["a"], perClass: 4, split: "train", seed: 71)
        try DatasetMaker.write(images, into: temp, root: "data")
        let store = CLIStore(temp.appending("store"))
        try store.ingest(temp.appending("data"), dataset: "D")
        let shardPath = store.shardsDirectory + "/000001.loom"
        let original = try Files.read(shardPath)

        // Cut the shard in the middle of its last record.
        try Data(original.prefix(original.count - 100)).write(to: URL(fileURLWithPath: shardPath))
        let (cut, cutReport) = try store.verify()
        #expect(cut.status == 1 && !cutReport.ok, "\(cut)")
        #expect(cutReport.problems.contains { $0.shard == "000001.loom" }, "\(cut)")
        #expect(Set(cutReport.problems.flatMap(\.rows).map(\.path)).isSubset(of: Set(images.map(\.path))))
        #expect(!cutReport.problems.flatMap(\.rows).isEmpty, "the rows behind the lost bytes are named\n\(cut)")

        try FileManager.default.removeItem(atPath: shardPath)
        let (gone, goneReport) = try store.verify()
        #expect(gone.status == 1 && !goneReport.ok, "\(gone)")
        #expect(Set(goneReport.problems.flatMap(\.rows).map(\.path)) == Set(images.map(\.path)),
                "every row of the missing shard is affected\n\(gone)")

        // Put it back: clean again.
        try Data(original).write(to: URL(fileURLWithPath: shardPath))
        try store.expectClean("after restoring the shard")
    }
}
