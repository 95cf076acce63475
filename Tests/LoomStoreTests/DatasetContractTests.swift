import Foundation
import LoomStore
import LoomTestSupport
import Testing

/// The dataset writes an ingest makes, against the protocols only (see CatalogContractTests.swift):
/// a re-run finds its files again, repoints changed ones, remembers moved times, and labels new
/// classes after the old ones.
@Suite("Dataset repository contract: the ingest's writes")
struct DatasetContractTests {
    @Test("ensure* return the rows already there; ensureClasses labels new wnids after the old ones and renames",
          arguments: CatalogBackend.all)
    func ensure(_ backend: CatalogBackend) throws {
        let catalog = try backend.make()
        let pets = try Pets(catalog)
        let classes = try catalog.writer.transaction { tx in
            #expect(try tx.datasets.ensureDataset(named: "pets") == pets.datasetID)
            #expect(try tx.datasets.ensureSplit(named: "val", of: pets.datasetID) == pets.valID)
            return try tx.datasets.ensureClasses(
                of: pets.datasetID, wnids: [ExactName("bird"), ExactName("cat"), ExactName("ant")],
                names: [ExactName("dog"): (name: "good dog", promptName: "dog"), ExactName("ant"): (name: "ant", promptName: "an ant")])
        }
        #expect(classes.count == 4, "every class of the dataset comes back, not only those asked for")
        #expect(classes[ExactName("cat")] == pets.cat)
        #expect(classes[ExactName("dog")]?.id == pets.dog.id && classes[ExactName("dog")]?.name == "good dog")
        #expect(classes[ExactName("ant")]?.label == 2 && classes[ExactName("ant")]?.promptName == "an ant")
        #expect(classes[ExactName("bird")]?.label == 3 && classes[ExactName("bird")]?.name == "bird")
        try catalog.reader.read { c throws in
            let stored = try c.datasets.classes(of: pets.datasetID)
            #expect(stored.map(\.wnid) == ["cat", "dog", "ant", "bird"] && stored.map(\.label) == [0, 1, 2, 3])
            #expect(stored[1].name == "good dog")
        }
    }

    @Test("upsertRealImage repoints a path at new bytes in the same row; touchRealImage moves only the time",
          arguments: CatalogBackend.all)
    func upsertAndTouch(_ backend: CatalogBackend) throws {
        let catalog = try backend.make()
        let pets = try Pets(catalog)
        let changed = try catalog.commitBlob(Array("changed image".utf8), mediaType: "image/png")
        let before = try catalog.reader.read { try $0.datasets.ingestedFiles(dataset: "pets", split: "train") }
        let cat = try #require(before[ExactName("train/cat/1.jpg")])
        let dog = try #require(before[ExactName("train/dog/2.jpg")])
        try catalog.writer.transaction { tx in
            let blob = try #require(try tx.snapshot.blobs.blob(changed))
            try tx.datasets.upsertRealImage(RealImageRow(
                splitID: pets.trainID, classID: pets.dog.id, blobID: blob.id, path: "train/cat/1.jpg", name: "1.jpg",
                width: 10, height: 20, format: "png", colorSpace: "rgb", fileSize: 13, mtimeNanoseconds: 5))
            try tx.datasets.touchRealImage(id: dog.id, mtimeNanoseconds: 42)
        }
        let after = try catalog.reader.read { try $0.datasets.ingestedFiles(dataset: "pets", split: "train") }
        #expect(after.count == 2, "repointed, not added")
        let repointed = try #require(after[ExactName("train/cat/1.jpg")])
        #expect(repointed.id == cat.id && repointed.digest == changed && repointed.wnid == "dog")
        #expect(repointed.size == 13 && repointed.mtimeNanoseconds == 5)
        let touched = try #require(after[ExactName("train/dog/2.jpg")])
        #expect(touched.mtimeNanoseconds == 42 && touched.digest == dog.digest && touched.size == dog.size && touched.wnid == "dog")
        let listed = try catalog.reader.read {
            try $0.datasets.realImages(RealImageFilter(dataset: "pets", split: "train"), offset: 0, limit: 10)
        }
        #expect(listed.first { $0.path == "train/cat/1.jpg" }.map { "\($0.width)x\($0.height) \($0.format)" } == "10x20 png")
    }

    @Test("ingestedFiles keys paths by their bytes: NFC and NFD spellings are two files", arguments: CatalogBackend.all)
    func exactPaths(_ backend: CatalogBackend) throws {
        let catalog = try backend.make()
        let pets = try Pets(catalog)
        let nfc = "train/cat/caf\u{E9}.jpg", nfd = "train/cat/cafe\u{301}.jpg"
        let digests = try [nfc, nfd].map { try catalog.commitBlob(Array($0.utf8), mediaType: "image/jpeg") }
        try catalog.writer.transaction { tx in
            for (path, digest) in zip([nfc, nfd], digests) {
                let blob = try #require(try tx.snapshot.blobs.blob(digest))
                try tx.datasets.upsertRealImage(RealImageRow(
                    splitID: pets.trainID, classID: pets.cat.id, blobID: blob.id, path: path, name: String(path.dropFirst(10)),
                    width: 1, height: 1, format: "jpeg", colorSpace: "rgb", fileSize: 1, mtimeNanoseconds: 1))
            }
        }
        let files = try catalog.reader.read { try $0.datasets.ingestedFiles(dataset: "pets", split: "train") }
        #expect(files.count == 4)
        #expect(files[ExactName(nfc)]?.digest == digests[0] && files[ExactName(nfd)]?.digest == digests[1])
    }
}
