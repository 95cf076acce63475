import Foundation
import LoomObjectStore
import LoomTestSupport
import Testing

extension CLITests {
    @Test("fleet store: verify from an empty working folder reports a shard object with a flipped payload byte (naming the shard, the blob and its images) and one cut short; a clean one passes",
          FleetEngines.required)
    func fleetVerifyFindsDamagedObjects() async throws {
        let engines = try await FleetEngines.start(prefix: "verify")
        let temp = try ScratchDirectory()
        let images = try DatasetMaker.write(DatasetMaker.pictures(classes: ["a", "b"], perClass: 3, split: "train", seed: 12),
                                            into: temp, root: "data")
        let writer = engines.workingFolder(temp.appending("writer"), viaVariables: true)
        try writer.ingest(temp.appending("data"), dataset: "d")
        try engines.workingFolder(temp.appending("clean"), viaVariables: true).expectClean("before any damage")

        let client = S3Client(configuration: engines.seaweed.configuration())
        let bucket = engines.seaweed.bucket
        let keys = try await client.listAllObjects(bucket: bucket, prefix: "verify/shards/").map(\.key).sorted()
        #expect(keys.count >= 1, "\(keys)")
        let key = try #require(keys.first)
        var bytes = try await client.getObject(bucket: bucket, key: key)
        // The first record's payload starts after the shard header and the record header; a byte
        // in the middle of the object is inside some record's payload either way.
        bytes[bytes.count / 2] ^= 0xFF
        _ = try await client.putObject(bucket: bucket, key: key, body: bytes)

        let reader = engines.workingFolder(temp.appending("reader"), viaVariables: true)
        let (run, report) = try reader.verify()
        #expect(run.status == 1 && !report.ok, "\(run)")
        let problem = try #require(report.problems.first, "\(run)")
        #expect(problem.shard == "s3://\(bucket)/\(key)", "\(problem)")
        #expect(problem.digest != nil && !problem.rows.isEmpty, "the damaged blob and the images that use it: \(problem)")
        #expect(problem.rows.allSatisfy { row in images.contains { $0.path == row.path } }, "\(problem.rows)")

        // A shard object cut short: its trailer is gone.
        _ = try await client.putObject(bucket: bucket, key: key, body: Array(bytes.prefix(bytes.count / 3)))
        let (cut, cutReport) = try engines.workingFolder(temp.appending("reader-2"), viaVariables: true).verify()
        #expect(cut.status == 1 && cutReport.problems.contains { $0.shard == "s3://\(bucket)/\(key)" && $0.reason.contains("shorter") },
                "\(cut)")
    }
}
