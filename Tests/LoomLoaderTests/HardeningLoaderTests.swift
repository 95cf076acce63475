import Foundation
@testable import LoomLoader
import LoomStore
import LoomTestSupport
import Testing

/// Findings 6, 7 and 11 of the hardening review, at the loader level.
@Suite("Loader (hardening)")
struct HardeningLoaderTests {
    static let train32 = TransformSpec(size: 32, augment: .train)

    @Test("--skip-bad skips every record past the end of a cut shard, however many", .tags(.hardening))
    func skipBadPassesATruncatedShard() throws {
        let fixture = try LoaderFixture()
        let table = try fixture.table()
        // Cut the shard so that the last 25 train records (in file order) are gone: far more
        // consecutive bad samples than a fixed number of replacement attempts covers.
        let byOffset = table.locations.indices.sorted { table.locations[$0].offset < table.locations[$1].offset }
        let firstLost = byOffset[byOffset.count - 25]
        let cut = table.locations[firstLost].offset + 10
        let file = try SystemFile(path: fixture.layout.shardPath(table.locations[firstLost].shardID), mode: .readWrite)
        try file.truncate(to: cut)
        let lost = Set(table.locations.filter { $0.offset + $0.recordSize > cut }.map(\.digest))
        #expect(lost.count >= 25)

        let store = try Store(fixture.layout, access: .readOnly)
        for workers in [1, 3] {
            let loader = try fixture.loader(table: table, spec: Self.train32, config: SamplerConfig(seed: 5), batch: 4,
                                            workers: workers, skipBad: true, store: store)
            let batches = try drain(loader)
            let delivered = batches.flatMap(\.samples).map { table.locations[Int($0)].digest }
            #expect(delivered.count == table.count, "every position of the epoch is filled")
            #expect(lost.isDisjoint(with: delivered), "no lost record is delivered")
            #expect(Set(loader.skippedSamples) == lost, "each lost sample is counted")
            #expect(loader.skippedSamples.count == lost.count, "and counted once")
        }
    }

    @Test("a resume token names its selection: loom2 with a fingerprint, checked on resume", .tags(.hardening))
    func resumeTokenCarriesAFingerprint() throws {
        let fixture = try LoaderFixture()
        let train = try fixture.table("ds:train")
        let val = try fixture.table("ds:val")
        let config = SamplerConfig(seed: 3)
        let loader = try fixture.loader(table: train, spec: Self.train32, config: config, batch: 8, workers: 1)
        _ = try loader.next()
        let token = loader.resumeToken
        let text = token.description
        let parts = text.split(separator: ".")
        #expect(parts.count == 7 && parts[0] == "loom2", "\(text)")
        #expect(parts[1...5] == ["3", "0", "8", "0", "1"])
        #expect(try ResumeToken(parsing: text) == token)

        try token.check(table: train, config: config)
        let wrongTable = #expect(throws: LoaderError.self) { try token.check(table: val, config: config) }
        #expect(wrongTable?.message.contains("another selection") == true, "\(String(describing: wrongTable))")
        // With several ranks the order also depends on how they share the remainder (with one
        // rank it does not, and the setting does not fail a resume).
        var drop = config
        drop.remainder = .drop
        try token.check(table: train, config: drop)
        let ranked = SamplerConfig(seed: 3, rank: 1, world: 2)
        let rankToken = try fixture.loader(table: train, spec: Self.train32, config: ranked, batch: 8, workers: 1).resumeToken
        try rankToken.check(table: train, config: ranked)
        var rankedDrop = ranked
        rankedDrop.remainder = .drop
        #expect(throws: LoaderError.self) { try rankToken.check(table: train, config: rankedDrop) }
        // The seed, epoch, rank and world are the token's own: they do not enter the fingerprint.
        var other = config
        other.seed = 99
        try token.check(table: train, config: other)

        // loom1 tokens (no fingerprint) stay readable and are accepted.
        let old = try ResumeToken(parsing: "loom1.3.0.8.0.1")
        #expect(old.fingerprint == nil && old.position == 8)
        try old.check(table: val, config: config)
        #expect(old.description == "loom1.3.0.8.0.1")
    }

    @Test(arguments: ["loom2.1.0.0.0.1", "loom2.1.0.0.0.1.", "loom2.1.0.0.0.1.XYZ", "loom2.1.0.0.0.1.0123456789abcdef0",
                      "loom2.1.0.0.0.1.0123", "loom2.1.0.0.0.1.0123abcd.1", "loom1.1.0.0.0.1.0123abcd"])
    func malformedLoom2TokensAreRejected(text: String) {
        let error = #expect(throws: LoaderError.self) { try ResumeToken(parsing: text) }
        #expect(error?.message.contains("resume token") == true)
    }

    @Test("an epoch length below 1 is refused, not read as 'all'", .tags(.hardening))
    func epochLengthMustBePositive() throws {
        for length in [0, -3] {
            let error = #expect(throws: LoaderError.self) { try SamplerConfig(seed: 1, epochLength: length).validate() }
            #expect(error?.message.contains("epoch length") == true, "\(String(describing: error))")
        }
        try SamplerConfig(seed: 1, epochLength: 1).validate()
    }
}
