import Foundation
import LoomIngest
@testable import LoomLoader
import LoomStore
import LoomTestSupport
import Testing

/// Saved sample tables (Sources/LoomLoader/SampleTableFile.swift): a second load maps what the
/// first saved, and any change to the catalog, by loom or by another program, makes it stale.
@Suite struct SavedSampleTableTests {
    /// Every field of every sample, and the table's components and classes.
    struct Contents: Equatable {
        var locations: [BlobLocation]
        var blobIDs: [Int64]
        var labels: [Int32]
        var cached: [SampleTable.CachedPixels?]
        var components: [String]
        var classNames: [String]

        init(_ table: SampleTable) {
            locations = Array(table.locations)
            blobIDs = Array(table.blobIDs)
            labels = Array(table.labels)
            cached = Array(table.cached)
            components = table.components.map { "\($0.range)*\($0.weight)" }
            classNames = table.classNames
        }
    }

    static func savedFiles(_ fixture: LoaderFixture) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: fixture.layout.sampleTablesDirectory)) ?? []).sorted()
    }

    @Test func theSecondLoadMapsTheTableTheFirstSaved() throws {
        let fixture = try LoaderFixture()
        let selection = "ds:train*2+ds:val*0.5"
        let first = try fixture.table(selection)
        #expect(!first.isMapped)
        #expect(Self.savedFiles(fixture).count == 1)
        let second = try fixture.table(selection)
        #expect(second.isMapped)
        #expect(Contents(second) == Contents(first))
        #expect(second.count == FixtureDataset.trainCount + FixtureDataset.valCount)
        #expect(second.classNames == FixtureDataset.classes)
        #expect(second.components.map(\.weight) == [2, 0.5])
        // Weights are the selection's, not the file's: a reweighted mixture maps the same rows.
        let reweighted = try fixture.table("ds:train+ds:val*3")
        #expect(reweighted.isMapped && reweighted.components.map(\.weight) == [1, 3])
        #expect(reweighted.components.map(\.range) == first.components.map(\.range))
        #expect(Self.savedFiles(fixture).count == 1)
        // Each sample still reads back as the fixture file it names, with its class as label.
        for index in 0..<second.count {
            let file = try #require(fixture.fileByDigest[second.locations[index].digest])
            #expect(try fixture.store.blobs.read(second.locations[index]) == file.bytes)
            #expect(FixtureDataset.classes[Int(second.labels[index])] == file.wnid)
        }
        // The loader runs on a mapped table as on a loaded one.
        let spec = TransformSpec(size: 32, augment: .train)
        let fromMapped = try drain(fixture.loader(table: second, spec: spec, config: SamplerConfig(seed: 3), batch: 8, workers: 2))
        let fromCatalog = try drain(fixture.loader(table: first, spec: spec, config: SamplerConfig(seed: 3), batch: 8, workers: 2))
        #expect(fromMapped == fromCatalog)
        #expect(try fixture.loader(table: second, spec: spec, config: SamplerConfig(seed: 3), batch: 8, workers: 1).fingerprint
                == fixture.loader(table: first, spec: spec, config: SamplerConfig(seed: 3), batch: 8, workers: 1).fingerprint)
    }

    @Test func selectionsClassFiltersAndCacheSidesEachHaveTheirOwnTable() throws {
        let fixture = try LoaderFixture()
        let all = try SampleTable.load(fixture.store, selection: Selection(parsing: "ds:train"))
        let filtered = try SampleTable.load(fixture.store, selection: Selection(dataset: "ds", split: "train", classes: ["n002"]))
        let cacheSide = try fixture.table("ds:train", cacheShortSide: 36)
        let valToo = try fixture.table("ds:train+ds:val")
        #expect([all, filtered, cacheSide, valToo].allSatisfy { !$0.isMapped })
        #expect(Self.savedFiles(fixture).count == 4)
        let again = try SampleTable.load(fixture.store, selection: Selection(dataset: "ds", split: "train", classes: ["n002"]))
        #expect(again.isMapped && Contents(again) == Contents(filtered))
        #expect(again.count == FixtureDataset.files.filter { $0.split == "train" && $0.wnid == "n002" }.count)
        #expect(try fixture.table("ds:train+ds:val").count == FixtureDataset.trainCount + FixtureDataset.valCount)
        #expect(try fixture.table().count == FixtureDataset.trainCount)
    }

    @Test func onlyTheMostRecentlyUsedTablesStaySaved() throws {
        let fixture = try LoaderFixture()
        // File times are kept in clock ticks of a few milliseconds: space the loads out.
        func load(side: Int) throws -> SampleTable {
            Thread.sleep(forTimeInterval: 0.02)
            return try fixture.table(cacheShortSide: side)
        }
        for side in 1...SampleTableFile.kept { #expect(try !load(side: side).isMapped) }
        #expect(Self.savedFiles(fixture).count == SampleTableFile.kept)
        #expect(try load(side: 1).isMapped)  // now the most recently used
        #expect(try !load(side: 100).isMapped)  // one more: the least recently used (side 2) goes
        #expect(Self.savedFiles(fixture).count == SampleTableFile.kept)
        #expect(try load(side: 1).isMapped)
        #expect(try load(side: 100).isMapped)
        #expect(try !load(side: 2).isMapped)
        #expect(Self.savedFiles(fixture).count == SampleTableFile.kept)
    }

    /// Writes by another program, straight into the catalog: each must make the saved table stale,
    /// and the next load must show the change.
    @Test func anyCatalogWriteMakesTheSavedTableStale() throws {
        let fixture = try LoaderFixture()
        let catalog = fixture.layout.catalogPath
        var previous = Contents(try fixture.table())
        #expect(try fixture.table().isMapped)

        let writes: [(sql: String, changed: (Contents, Contents) -> Bool)] = [
            ("UPDATE classes SET label = 7 WHERE wnid = 'n003'", { old, new in new.labels.contains(7) && !old.labels.contains(7) }),
            ("UPDATE blobs SET offset = offset + 1 WHERE id = (SELECT min(blob_id) FROM real_images)",
             { old, new in zip(old.locations, new.locations).contains { $0.offset + 1 == $1.offset } }),
            ("DELETE FROM real_images WHERE id = (SELECT max(id) FROM real_images WHERE split_id = (SELECT id FROM splits WHERE name = 'train'))",
             { old, new in new.locations.count == old.locations.count - 1 }),
            ("UPDATE real_images SET split_id = (SELECT id FROM splits WHERE name = 'train') WHERE id = (SELECT min(id) FROM real_images WHERE split_id = (SELECT id FROM splits WHERE name = 'val'))",
             { old, new in new.locations.count == old.locations.count + 1 }),
        ]
        for (sql, changed) in writes {
            try runSQLiteShell(catalog, sql)
            let reloaded = try fixture.table()
            #expect(!reloaded.isMapped, "stale table mapped after: \(sql)")
            let contents = Contents(reloaded)
            #expect(changed(previous, contents), "the change is missing after: \(sql)")
            #expect(try fixture.table().isMapped, "no table saved after: \(sql)")
            previous = contents
        }
    }

    @Test func pixelCacheBuildsAndIngestsMakeTheSavedTableStale() throws {
        let fixture = try LoaderFixture()
        let spec = TransformSpec(size: 32, augment: .eval)
        #expect(try fixture.table(cacheShortSide: 36).cachedCount == 0)
        #expect(try fixture.table(cacheShortSide: 36).isMapped)
        _ = try PixelCache.build(writer: fixture.store.makeWriter(), selection: Selection(parsing: "ds:train"), spec: spec, workers: 2)
        let cached = try fixture.table(cacheShortSide: 36)
        #expect(!cached.isMapped && cached.cachedCount == FixtureDataset.trainCount)
        let mapped = try fixture.table(cacheShortSide: 36)
        #expect(mapped.isMapped && Contents(mapped) == Contents(cached))

        // One more image ingested into train.
        let extra = FixtureImages.jpeg(width: 64, height: 48, seed: 99, quality: 80)
        try fixture.directory.write(extra, to: "more/train/n001/extra.jpg")
        _ = try Ingestor(store: fixture.store, options: .init(dataset: "ds", workers: 1)).run(root: fixture.directory.appending("more"))
        let grown = try fixture.table(cacheShortSide: 36)
        #expect(!grown.isMapped && grown.count == FixtureDataset.trainCount + 1)
        #expect(grown.locations.contains { $0.digest == Digest.sha256(extra) })
    }

    @Test func aDamagedOrForeignSavedTableIsRebuiltNotUsed() throws {
        let fixture = try LoaderFixture()
        let expected = Contents(try fixture.table())
        let path = try #require(Self.savedFiles(fixture).first.map { fixture.layout.sampleTablesDirectory + "/" + $0 })
        let good = try #require(FileManager.default.contents(atPath: path))
        let damages: [(String, (inout Data) -> Void)] = [
            ("cut short", { $0.removeLast(5) }),
            ("one byte more", { $0.append(0) }),
            ("bad magic", { $0[0] ^= 0xFF }),
            ("another token", { $0[24] ^= 0x01 }),
            ("another key", { $0[70] ^= 0x01 }),
            ("bad metadata", { $0[96] = UInt8(ascii: "#") }),
            ("empty", { $0 = Data() }),
        ]
        for (name, damage) in damages {
            var bytes = good
            damage(&bytes)
            try bytes.write(to: URL(fileURLWithPath: path))
            let table = try fixture.table()
            #expect(!table.isMapped, "\(name): the damaged file was mapped")
            #expect(Contents(table) == expected, "\(name)")
            // The load saved a good table again.
            #expect(FileManager.default.contents(atPath: path) == good, "\(name): not rewritten")
        }
        // Nothing is left behind in tmp/ by the saves.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: fixture.layout.tmpDirectory).filter { $0.hasPrefix("sample-table-") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    @Test func theTokenChangesWithSampleWritesAndNotWithTraining() throws {
        let fixture = try LoaderFixture()
        func token() throws -> Int64? { try fixture.store.read { try $0.info.changeToken() } }
        let before = try #require(try token())
        // The fixture's ingest recorded a run: the update touches a row.
        try runSQLiteShell(fixture.layout.catalogPath, """
            UPDATE runs SET status = status;
            INSERT INTO runs (stage, config, status) VALUES ('train', '{}', 'running');
            INSERT INTO jobs (run_id, key, state) VALUES (last_insert_rowid(), 'k', 'pending');
            """)
        #expect(try token() == before)
        try runSQLiteShell(fixture.layout.catalogPath, "UPDATE datasets SET name = name")
        let after = try #require(try token())
        #expect(after != before)
    }
}
