import Foundation
import LoomImage
@testable import LoomLoader
import LoomStore
import LoomTestSupport
import Testing

/// The pixel cache, damaged records and mixtures, against a real store.
@Suite struct PixelCacheTests {
    static let eval32 = TransformSpec(size: 32, augment: .eval)

    @Test func cachedEvalPixelsAreBitIdenticalToDecoding() throws {
        let fixture = try LoaderFixture()
        let selection = try Selection(parsing: "ds:train")
        let writer = try fixture.store.makeWriter()
        let summary = try PixelCache.build(writer: writer, selection: selection, spec: Self.eval32, workers: 3)
        #expect(summary.shortSide == 36)
        #expect(summary.failed.isEmpty, "\(summary.failed)")
        #expect(summary.built == FixtureDataset.trainCount && summary.present == 0)
        #expect(summary.rawBytes > 0 && summary.storedBytes > 0)

        let table = try fixture.table(cacheShortSide: 36)
        #expect(table.count == FixtureDataset.trainCount)
        #expect(table.cachedCount == table.count)
        #expect(try fixture.table().cachedCount == 0)
        #expect(try fixture.table(cacheShortSide: 73).cachedCount == 0)
        #expect(try fixture.table("ds:val", cacheShortSide: 36).cachedCount == 0)
        for (index, cached) in table.cached.enumerated() {
            let file = try #require(fixture.fileByDigest[table.locations[index].digest])
            let entry = try #require(cached)
            let expected = CropPlan.resizedSize(width: file.width, height: file.height, shortSide: 36)
            #expect(entry.width == expected.0 && entry.height == expected.1, "\(file.path)")
            #expect(min(entry.width, entry.height) == 36)
        }

        for (seed, workers) in [(UInt64(1), 1), (UInt64(2), 3)] {
            let config = SamplerConfig(seed: seed)
            let fromCache = try drain(fixture.loader(table: table, spec: Self.eval32, config: config, batch: 6, workers: workers,
                                                     useCache: true))
            let decoded = try drain(fixture.loader(table: table, spec: Self.eval32, config: config, batch: 6, workers: workers,
                                                   useCache: false))
            #expect(fromCache.count == 8 && decoded.count == 8)
            for (i, batch) in fromCache.enumerated() {
                #expect(batch.samples == decoded[i].samples && batch.labels == decoded[i].labels)
                expectSameBytes(batch.pixels, decoded[i].pixels, "batch \(i): cached eval pixels differ from decoding")
            }
        }

        // Training crops come from the cached image: still the right shape and labels.
        let trainSpec = TransformSpec(size: 32, augment: .train)
        for batch in try drain(fixture.loader(table: table, spec: trainSpec, config: SamplerConfig(seed: 5), batch: 16, workers: 2)) {
            #expect(batch.pixels.count == batch.samples.count * trainSpec.sampleBytes)
            #expect(batch.labels == batch.samples.map { table.labels[Int($0)] })
        }

        let again = try PixelCache.build(writer: writer, selection: selection, spec: Self.eval32, workers: 2)
        #expect(again.built == 0 && again.present == FixtureDataset.trainCount && again.failed.isEmpty)
        #expect(again.storedBytes == 0)

        // A mixture builds only what is missing.
        let both = try PixelCache.build(writer: writer, selection: Selection(parsing: "ds:train+ds:val"), spec: Self.eval32, workers: 2)
        #expect(both.built == FixtureDataset.valCount && both.present == FixtureDataset.trainCount)
        #expect(try fixture.table("ds:train+ds:val", cacheShortSide: 36).cachedCount == FixtureDataset.trainCount + FixtureDataset.valCount)
    }

    @Test("a raw cache stores every image uncompressed and serves the same pixels as an LZ4 one")
    func rawCodecCache() throws {
        let lz4Fixture = try LoaderFixture(), rawFixture = try LoaderFixture()
        let selection = try Selection(parsing: "ds:train")
        let packed = try PixelCache.build(writer: lz4Fixture.store.makeWriter(), selection: selection, spec: Self.eval32, workers: 2)
        let raw = try PixelCache.build(writer: rawFixture.store.makeWriter(), selection: selection, spec: Self.eval32, workers: 2,
                                       codec: .raw)
        #expect(packed.codec == .lz4 && raw.codec == .raw)
        #expect(raw.built == FixtureDataset.trainCount && raw.failed.isEmpty)
        #expect(raw.rawBytes == packed.rawBytes)
        #expect(raw.storedBytes > raw.rawBytes, "raw records hold every pixel byte plus a header each: \(raw)")
        let rawTable = try rawFixture.table(cacheShortSide: 36), lz4Table = try lz4Fixture.table(cacheShortSide: 36)
        #expect(rawTable.cached.allSatisfy { $0?.location.codec == .raw })
        #expect(lz4Table.cached.contains { $0?.location.codec == .lz4 }, "the fixture's RGB should compress")

        for spec in [Self.eval32, TransformSpec(size: 32, augment: .train)] {
            let config = SamplerConfig(seed: 9)
            let fromRaw = try drain(rawFixture.loader(table: rawTable, spec: spec, config: config, batch: 5, workers: 2))
            let fromLZ4 = try drain(lz4Fixture.loader(table: lz4Table, spec: spec, config: config, batch: 5, workers: 2))
            #expect(fromRaw.count == fromLZ4.count && !fromRaw.isEmpty)
            for (i, batch) in fromRaw.enumerated() {
                #expect(batch.samples == fromLZ4[i].samples && batch.labels == fromLZ4[i].labels)
                expectSameBytes(batch.pixels, fromLZ4[i].pixels, "\(spec.augment) batch \(i): raw and LZ4 caches differ")
            }
        }
    }

    @Test func cacheImagesAreTheFullEvalResize() throws {
        let fixture = try LoaderFixture()
        let writer = try fixture.store.makeWriter()
        _ = try PixelCache.build(writer: writer, selection: Selection(parsing: "ds:val"), spec: Self.eval32, workers: 2)
        let table = try fixture.table("ds:val", cacheShortSide: 36)
        let renderer = try SampleRenderer(spec: Self.eval32)
        for index in 0..<table.count {
            let entry = try #require(table.cached[index])
            let pixels = try fixture.store.blobs.read(entry.location)
            #expect(pixels.count == entry.width * entry.height * 3)
            let original = try fixture.store.blobs.read(table.locations[index])
            let direct = try original.withUnsafeBytes { try renderer.renderCacheImage(encoded: $0) }
            #expect(direct.width == entry.width && direct.height == entry.height)
            expectSameBytes(pixels, direct.pixels, "cache blob \(index) vs renderCacheImage")
        }
    }
}

@Suite struct CorruptRecordTests {
    static let train32 = TransformSpec(size: 32, augment: .train)

    /// The sample query reads columns in place (Sources/LoomStore/SQLite/SQLiteSamples.swift): a
    /// catalog row it cannot read is a corrupt catalog, named, never a sample read from the wrong place.
    @Test func damagedCatalogRowFailsTheTableLoadNamingIt() throws {
        let fixture = try LoaderFixture()
        let good = try fixture.table()
        #expect(good.count == FixtureDataset.trainCount)
        for (index, location) in good.locations.enumerated() {
            #expect(fixture.fileByDigest[location.digest] != nil, "sample \(index) has a digest no fixture file has")
            #expect(location.codec == .raw || location.codec == .lz4)
            #expect(location.storedSize > 0 && location.rawSize == fixture.fileByDigest[location.digest]?.bytes.count)
        }
        let digest = good.locations[3].digest
        // The shell, as another program could: the catalog's CHECKs would refuse these rows.
        func damage(_ set: String) throws {
            try runSQLiteShell(fixture.layout.catalogPath,
                               "PRAGMA ignore_check_constraints = ON; UPDATE blobs SET \(set) WHERE digest = x'\(digest.hex)'")
        }
        try damage("codec = 'zstd'")
        var failure: (any Error)?
        do { _ = try fixture.table() } catch { failure = error }
        var error = try #require(failure as? StoreError, "got \(String(describing: failure))")
        #expect(error.code == .corrupt && error.message.contains(digest.hex) && error.message.contains("\"zstd\""), "\(error)")

        try damage("codec = 'raw', digest = x'00ff'")
        failure = nil
        do { _ = try fixture.table() } catch { failure = error }
        error = try #require(failure as? StoreError, "got \(String(describing: failure))")
        #expect(error.code == .corrupt && error.message.contains("malformed digest"), "\(error)")
    }

    @Test func damagedRecordFailsItsBatchOrIsSkipped() throws {
        let fixture = try LoaderFixture()
        let table = try fixture.table()
        let config = SamplerConfig(seed: 17)
        let plan = EpochPlan(table: table, config: config, epoch: 0)
        let bytes = Self.train32.sampleBytes

        // A raw-stored JPEG in the middle of the epoch.
        let position = try #require((20..<40).first { position in
            let sample = Int(plan.order[position])
            return table.locations[sample].codec == .raw && fixture.fileByDigest[table.locations[sample].digest]?.kind == .rgb
        })
        let victim = Int(plan.order[position])
        let digest = table.locations[victim].digest
        let clean = try drain(fixture.loader(table: table, spec: Self.train32, config: config, batch: 4, workers: 3))
        let cleanBySample = Dictionary(uniqueKeysWithValues: perSample(clean, sampleBytes: bytes).map { ($0.sample, $0.pixels) })

        let location = try #require(try fixture.store.blobs.location(of: digest))
        #expect(location.codec == .raw)
        let handle = try #require(FileHandle(forUpdatingAtPath: fixture.layout.shardPath(location.shardID)))
        let at = UInt64(location.offset + ShardFormat.recordHeaderSize + location.storedSize / 2)
        try handle.seek(toOffset: at)
        let old = try #require(try handle.read(upToCount: 1)).first!
        try handle.seek(toOffset: at)
        try handle.write(contentsOf: [old ^ 0x5A])
        try handle.close()

        let store = try Store(fixture.layout, access: .readOnly)
        #expect(throws: StoreError.self) { try store.blobs.read(location) }

        // Without skipBad: the batches before it come through unchanged, then its batch throws.
        for workers in [1, 3] {
            let loader = try fixture.loader(table: table, spec: Self.train32, config: config, batch: 4, workers: workers, store: store)
            var good: [DeliveredBatch] = []
            var failure: (any Error)?
            do {
                while let view = try loader.next() { good.append(DeliveredBatch(view)) }
            } catch {
                failure = error
            }
            #expect(good.count == position / 4, "the error should arrive with batch \(position / 4)")
            expectSameBatches(good, Array(clean.prefix(good.count)), "batches before the damaged one")
            let error = try #require(failure as? LoaderError, "expected a LoaderError, got \(String(describing: failure))")
            #expect(error.message.contains(digest.hex), "\(error.message)")
            #expect(loader.skippedSamples.isEmpty)
        }

        // With skipBad: every batch, the bad sample replaced by the next one in the table (counted).
        let loader = try fixture.loader(table: table, spec: Self.train32, config: config, batch: 4, workers: 3, skipBad: true, store: store)
        let skipped = try drain(loader)
        #expect(skipped.count == clean.count)
        #expect(loader.skippedSamples == [digest])
        let replacement = UInt32((victim + 1) % table.count)
        for (b, batch) in skipped.enumerated() {
            // The batch names what it delivered: the replacement stands where the bad sample was.
            var expectedSamples = clean[b].samples
            if position / 4 == b { expectedSamples[position % 4] = replacement }
            #expect(batch.samples == expectedSamples)
            for i in 0..<batch.samples.count {
                let pos = b * 4 + i
                if pos == position {
                    #expect(batch.labels[i] == table.labels[Int(replacement)])
                    expectSameBytes(batch.samplePixels(i, sampleBytes: bytes), cleanBySample[replacement]!, "replacement pixels")
                } else {
                    #expect(batch.labels[i] == clean[b].labels[i], "position \(pos)")
                    expectSameBytes(batch.samplePixels(i, sampleBytes: bytes), clean[b].samplePixels(i, sampleBytes: bytes), "position \(pos)")
                }
            }
        }
    }

    @Test func undecodableImageIsReportedBySampleDigest() throws {
        // A record whose checksums are right but whose JPEG scan is damaged: only the decoder can notice.
        let fixture = try LoaderFixture()
        let table = try fixture.table()
        let sample = try #require(table.locations.indices.first {
            table.locations[$0].codec == .raw && fixture.fileByDigest[table.locations[$0].digest]?.kind == .rgb
        })
        let location = table.locations[sample]
        var payload = try #require(fixture.fileByDigest[location.digest]).bytes
        let scan = FixtureImages.scanData(ofBaselineJPEG: payload)
        let start = scan.lowerBound + scan.count * 2 / 5
        for i in stride(from: start, to: min(start + 64, scan.upperBound - 1), by: 2) {
            payload[i] = 0xFF
            payload[i + 1] = 0x00
        }
        let decoder = try JPEGDecoder()
        func decode(_ bytes: [UInt8]) throws {
            try bytes.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws -> Void in
                let header = try decoder.readHeader(raw)
                var out = [UInt8](repeating: 0, count: header.width * header.height * 3)
                var scratch: [UInt8] = []
                try out.withUnsafeMutableBytes { (buffer: UnsafeMutableRawBufferPointer) throws -> Void in
                    try decoder.decodeRGB(raw, header: header, scale: .full, into: buffer, scratch: &scratch)
                }
            }
        }
        #expect(throws: (any Error).self, "the damaged JPEG still decodes") { try decode(payload) }

        // Rewrite payload, payload CRC (header bytes 56..<60) and header CRC (60..<64).
        let path = fixture.layout.shardPath(location.shardID)
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        try handle.seek(toOffset: UInt64(location.offset))
        var header = try #require(try handle.read(upToCount: ShardFormat.recordHeaderSize)).map { $0 }
        func putLE(_ value: UInt32, at offset: Int) { for k in 0..<4 { header[offset + k] = UInt8(truncatingIfNeeded: value >> (8 * k)) } }
        putLE(crc32(payload), at: 56)
        putLE(crc32(Array(header[0..<60])), at: 60)
        try handle.seek(toOffset: UInt64(location.offset))
        try handle.write(contentsOf: header + payload)
        try handle.close()

        let store = try Store(fixture.layout, access: .readOnly)
        expectSameBytes(try store.blobs.read(location, verifyDigest: false), payload, "the record reads back cleanly")
        let loader = try fixture.loader(table: table, spec: Self.train32, config: SamplerConfig(seed: 1), batch: 8, workers: 2,
                                        store: store)
        var failure: (any Error)?
        do { _ = try drain(loader) } catch { failure = error }
        let error = try #require(failure as? LoaderError, "got \(String(describing: failure))")
        #expect(error.message.contains(location.digest.hex), "\(error.message)")

        let skipping = try fixture.loader(table: table, spec: Self.train32, config: SamplerConfig(seed: 1), batch: 8, workers: 2,
                                          skipBad: true, store: store)
        #expect(try drain(skipping).flatMap(\.samples).count == table.count)
        #expect(skipping.skippedSamples == [location.digest])
    }
}

/// CRC-32 (IEEE, reflected), as zlib computes it.
func crc32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
}

@Suite struct MixtureTests {
    @Test func mixtureEpochFollowsTheWeights() throws {
        let fixture = try LoaderFixture()
        let selection = try Selection(parsing: "ds:train*3+ds:val")
        #expect(selection.components.map(\.weight) == [3, 1])
        let table = try SampleTable.load(fixture.store, selection: selection)
        #expect(table.count == FixtureDataset.trainCount + FixtureDataset.valCount)
        #expect(table.components.map(\.range) == [0..<47, 47..<60])
        let config = SamplerConfig(seed: 6)
        let batches = try drain(fixture.loader(table: table, spec: TransformSpec(size: 16, augment: .eval), config: config,
                                               batch: 8, workers: 2))
        let samples = batches.flatMap(\.samples)
        #expect(samples.count == 60)
        #expect(samples == EpochPlan(table: table, config: config, epoch: 0).order)
        let fromTrain = samples.filter { $0 < 47 }.count
        #expect(fromTrain == 45)  // exactly 3/4 of 60
        for batch in batches {
            #expect(batch.labels == batch.samples.map { table.labels[Int($0)] })
            for sample in batch.samples {
                let file = try #require(fixture.fileByDigest[table.locations[Int(sample)].digest])
                #expect(file.split == (sample < 47 ? "train" : "val"))
            }
        }

        var longer = config
        longer.epochLength = 100
        let plan = EpochPlan(table: table, config: longer, epoch: 0)
        #expect(plan.order.count == 100 && plan.order.filter { $0 < 47 }.count == 75)
    }

    @Test func unknownSelectionsAreNamed() throws {
        let fixture = try LoaderFixture()
        for (text, needle) in [("nope:train", "nope"), ("ds:test", "test")] {
            let error = #expect(throws: LoaderError.self) { try fixture.table(text) }
            #expect(error?.message.contains(needle) == true, "\(error?.message ?? "")")
        }
    }

    @Test(arguments: [
        ("ds", "expected DATASET:SPLIT"),
        ("ds:train*-1", "not a positive number"),
        ("a:b*x", "not a positive number"),
        ("a:b*0", "not a positive number"),
        ("a:b*nan", "not a positive number"),
        ("a:b*inf", "not a positive number"),
        ("a:b*", "not a positive number"),
        ("", "expected DATASET:SPLIT"),
        (":train", "expected DATASET:SPLIT"),
        ("ds:", "expected DATASET:SPLIT"),
        ("a:b:c", "expected DATASET:SPLIT"),
        ("a:b+", "expected DATASET:SPLIT"),
        ("+a:b", "expected DATASET:SPLIT"),
    ])
    func malformedSelectionsAreRejected(_ c: (String, String)) {
        let error = #expect(throws: LoaderError.self) { try Selection(parsing: c.0) }
        #expect(error?.message.contains(c.1) == true, "\(c.0): \(error?.message ?? "no error")")
        #expect(error?.message.contains("\"\(c.0)\"") == true, "the message quotes the selection")
    }

    @Test func selectionsParseAndPrint() throws {
        let mixture = try Selection(parsing: "ds:train*3+ds:val")
        #expect(mixture.components == [Selection.Component(dataset: "ds", split: "train", weight: 3),
                                       Selection.Component(dataset: "ds", split: "val")])
        #expect(try Selection(parsing: mixture.description) == mixture)
        #expect(try Selection(parsing: "imagenette:train*0.5+imagenette:val").components.map(\.weight) == [0.5, 1])
        #expect(try Selection(parsing: "ds:val").description == "ds:val")
    }
}
