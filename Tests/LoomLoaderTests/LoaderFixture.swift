import Foundation
import LoomImage
import LoomIngest
@testable import LoomLoader
import LoomStore
import LoomTestSupport
import Testing

/// One image of the fixture dataset, as written to disk.
struct FixtureFile: Sendable {
    enum Kind: Sendable { case rgb, gray, cmyk, png }
    var path: String  // relative to the dataset root: SPLIT/CLASS/NAME
    var split: String
    var wnid: String
    var kind: Kind
    var width: Int
    var height: Int
    var bytes: [UInt8]
}

/// The fixture dataset "ds": train (47 images, 3 classes: 47 % 2, % 3 and % 4 are all non-zero)
/// and val (13 images). Sizes vary from 96x72 to 200x150, some portrait; two grayscale JPEGs, one
/// CMYK JPEG and one PNG sit in train. Encoded once per process (deterministic bytes).
enum FixtureDataset {
    static let classes = ["n001", "n002", "n003"]
    static let trainCount = 47
    static let valCount = 13

    static let files: [FixtureFile] = {
        let sizes = [(96, 72), (120, 90), (160, 120), (200, 150), (72, 96), (90, 120), (112, 84), (150, 100), (100, 150), (128, 96)]
        var files: [FixtureFile] = []
        for (split, count, seedBase) in [("train", trainCount, 1000 as UInt64), ("val", valCount, 5000 as UInt64)] {
            for i in 0..<count {
                let wnid = classes[i % classes.count]
                let (w, h) = sizes[(i * 7 + Int(seedBase / 1000)) % sizes.count]
                let seed = seedBase + UInt64(i)
                var kind = FixtureFile.Kind.rgb
                if split == "train" {
                    switch i {
                    case 5, 17: kind = .gray
                    case 11: kind = .cmyk
                    case 23: kind = .png
                    default: break
                    }
                }
                let bytes: [UInt8]
                let ext: String
                switch kind {
                case .rgb: bytes = FixtureImages.jpeg(width: w, height: h, seed: seed, quality: 85); ext = "jpg"
                case .gray: bytes = FixtureImages.grayJPEG(width: w, height: h, seed: seed); ext = "jpg"
                case .cmyk: bytes = FixtureImages.cmykJPEG(width: w, height: h, seed: seed); ext = "jpg"
                case .png: bytes = FixtureImages.png(width: w, height: h, seed: seed); ext = "png"
                }
                let name = String(format: "img_%03d.%@", i, ext)
                files.append(FixtureFile(path: "\(split)/\(wnid)/\(name)", split: split, wnid: wnid, kind: kind,
                                         width: w, height: h, bytes: bytes))
            }
        }
        return files
    }()
}

/// A fresh store in a temporary directory with the fixture dataset ingested as "ds".
final class LoaderFixture {
    let directory: TemporaryDirectory
    let layout: StoreLayout
    let store: Store
    let files: [FixtureFile]
    /// Fixture file by the digest of its bytes.
    let fileByDigest: [Digest: FixtureFile]

    init() throws {
        directory = try TemporaryDirectory(prefix: "loom-loader-test-")
        files = FixtureDataset.files
        for file in files { try directory.write(file.bytes, to: "data/" + file.path) }
        layout = StoreLayout(root: directory.appending("store"))
        store = try Store(layout, access: .readWrite)
        let summary = try Ingestor(store: store, options: .init(dataset: "ds", workers: 2)).run(root: directory.appending("data"))
        guard summary.rejected.isEmpty, summary.added == files.count else {
            throw LoaderError("fixture ingest: \(summary.added) added, rejected \(summary.rejected)")
        }
        var byDigest: [Digest: FixtureFile] = [:]
        for file in files { byDigest[Digest.sha256(file.bytes)] = file }
        fileByDigest = byDigest
    }

    func table(_ selection: String = "ds:train", cacheShortSide: Int? = nil) throws -> SampleTable {
        try SampleTable.load(store, selection: Selection(parsing: selection), cacheShortSide: cacheShortSide)
    }

    func loader(table: SampleTable, spec: TransformSpec, config: SamplerConfig, epoch: Int = 0, batch: Int,
                workers: Int, prefetch: Int? = nil, dropLast: Bool = false, skipBad: Bool = false, useCache: Bool = true,
                startPosition: Int = 0, store: Store? = nil) throws -> Loader {
        try Loader(store: store ?? self.store, table: table, spec: spec, config: config, epoch: epoch,
                   options: .init(batchSize: batch, workers: workers, prefetch: prefetch, dropLast: dropLast,
                                  skipBad: skipBad, useCache: useCache),
                   startPosition: startPosition)
    }
}

/// A batch copied out of its ``Loader/BatchView``.
struct DeliveredBatch: Equatable {
    var index: Int
    var samples: [UInt32]
    var labels: [Int32]
    var pixels: [UInt8]
    var endPosition: Int

    init(_ view: Loader.BatchView) {
        index = view.index
        samples = Array(view.samples)
        labels = Array(view.labels)
        pixels = Array(view.pixels)
        endPosition = view.endPosition
    }

    /// The pixels of the batch's `i`-th sample.
    func samplePixels(_ i: Int, sampleBytes: Int) -> ArraySlice<UInt8> {
        pixels[(i * sampleBytes)..<((i + 1) * sampleBytes)]
    }
}

/// Pulls up to `limit` batches (all by default).
func drain(_ loader: Loader, limit: Int = .max) throws -> [DeliveredBatch] {
    var batches: [DeliveredBatch] = []
    while batches.count < limit, let view = try loader.next() {
        batches.append(DeliveredBatch(view))
    }
    return batches
}

/// Per sample position: (sample index, that sample's pixels), across a list of batches.
func perSample(_ batches: [DeliveredBatch], sampleBytes: Int) -> [(sample: UInt32, pixels: ArraySlice<UInt8>)] {
    batches.flatMap { batch in
        batch.samples.indices.map { (batch.samples[$0], batch.samplePixels($0, sampleBytes: sampleBytes)) }
    }
}

/// A sample table with `count` placeholder samples in one component (the sampler reads only the
/// count and the components).
func syntheticTable(components sizes: [Int], weights: [Double]? = nil) -> SampleTable {
    var builder = SampleTable.Builder()
    let location = BlobLocation(digest: Digest.sha256([0]), shardID: 1, offset: 0, storedSize: 0, rawSize: 0, codec: .raw)
    for (index, size) in sizes.enumerated() {
        for _ in 0..<size { builder.append(location: location, blobID: 1, label: Int32(index)) }
        builder.endComponent(weight: weights?[index] ?? 1)
    }
    return builder.finish(classNames: [])
}

/// Records an issue when two byte sequences differ, naming how many bytes differ and where the
/// first is, instead of printing both (large) arrays.
func expectSameBytes(
    _ actual: some Collection<UInt8>, _ expected: some Collection<UInt8>, _ comment: @autoclosure () -> String = "",
    sourceLocation: SourceLocation = #_sourceLocation
) {
    if actual.elementsEqual(expected) { return }
    let a = Array(actual), b = Array(expected)
    let differing = zip(a, b).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset)
    let first = differing.first ?? min(a.count, b.count)
    Issue.record("\(comment()) — bytes differ: \(a.count) vs \(b.count) bytes, \(differing.count) differ, first at \(first)",
                 sourceLocation: sourceLocation)
}

/// Records an issue when two byte sequences are equal.
func expectDifferentBytes(
    _ a: some Collection<UInt8>, _ b: some Collection<UInt8>, _ comment: @autoclosure () -> String = "",
    sourceLocation: SourceLocation = #_sourceLocation
) {
    if a.elementsEqual(b) { Issue.record("\(comment()) — bytes are identical", sourceLocation: sourceLocation) }
}

/// Compares delivered batches field by field (pixels summarised, not printed).
func expectSameBatches(
    _ actual: [DeliveredBatch], _ expected: [DeliveredBatch], _ comment: @autoclosure () -> String = "",
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let context = comment()
    #expect(actual.count == expected.count, "\(context): batch count", sourceLocation: sourceLocation)
    for (i, (a, b)) in zip(actual, expected).enumerated() {
        #expect(a.index == b.index && a.endPosition == b.endPosition, "\(context): batch \(i) index/end",
                sourceLocation: sourceLocation)
        #expect(a.samples == b.samples, "\(context): batch \(i) samples", sourceLocation: sourceLocation)
        #expect(a.labels == b.labels, "\(context): batch \(i) labels", sourceLocation: sourceLocation)
        expectSameBytes(a.pixels, b.pixels, "\(context): batch \(i) pixels", sourceLocation: sourceLocation)
    }
}
