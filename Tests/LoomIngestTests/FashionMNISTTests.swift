import CZlib
import Foundation
import LoomDatasets
import LoomImage
import LoomTestSupport
import Testing

/// Debian's `dataset-fashion-mnist`; tests that read it are skipped where it is not installed.
private let debianSource = "/usr/share/datasets/fashion-mnist"
private let hasDebianData = FileManager.default.fileExists(atPath: debianSource + "/train-images-idx3-ubyte.gz")

@Suite struct FashionMNISTTests {
    @Test(.enabled(if: hasDebianData))
    func exportWritesImageNetLayoutAndIsIdempotent() throws {
        let temporary = try TemporaryDirectory(prefix: "loom-fashion-mnist-")
        defer { withExtendedLifetime(temporary) {} }  // an optimizer may otherwise delete it early
        let directory = temporary.path
        let out = directory + "/out"
        let summary = try FashionMNIST.export(from: debianSource, to: out, trainPerClass: 3, valPerClass: 2)
        #expect(summary.train.images == 30 && summary.train.written == 30)
        #expect(summary.val.images == 20 && summary.val.written == 20)
        #expect(summary.outputDirectory == URL(fileURLWithPath: out).standardizedFileURL.path)

        // The files are the first N of each class in IDX order, named by IDX index.
        for (split, prefix, perClass) in [("train", "train", 3), ("val", "t10k", 2)] {
            let labels = try IDXFile(contentsOf: "\(debianSource)/\(prefix)-labels-idx1-ubyte.gz", expecting: .labels)
            for fashionClass in FashionMNIST.classes {
                let expected = labels.bytes.indices.filter { Int(labels.bytes[$0]) == fashionClass.label }
                    .prefix(perClass).map { pngName($0) }
                let folder = "\(out)/\(split)/\(fashionClass.folder)"
                let found = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
                #expect(found == expected, "\(folder)")
            }
            let folders = try FileManager.default.contentsOfDirectory(atPath: "\(out)/\(split)")
            #expect(Set(folders) == Set(FashionMNIST.classes.map(\.folder)))
        }

        let mapping = try String(contentsOfFile: "\(out)/LOC_synset_mapping.txt", encoding: .utf8)
        let lines = mapping.split(separator: "\n")
        #expect(lines.count == 10)
        #expect(lines.contains("tshirt T-shirt/top"))
        #expect(lines.contains("ankle_boot Ankle boot"))

        // Lossless: the PNG decodes to the IDX pixels, gray expanded to R == G == B.
        let images = try IDXFile(contentsOf: debianSource + "/train-images-idx3-ubyte.gz", expecting: .images)
        let labels = try IDXFile(contentsOf: debianSource + "/train-labels-idx1-ubyte.gz", expecting: .labels)
        let index = try #require(labels.bytes.firstIndex(of: 1))  // the first trouser
        let png = try #require(FileManager.default.contents(atPath: "\(out)/train/trouser/\(pngName(index))"))
        var rgb = [UInt8](repeating: 0, count: 28 * 28 * 3)
        let info = try png.withUnsafeBytes { (bytes) in
            try rgb.withUnsafeMutableBytes { try PNGCodec.decodeRGB(bytes, into: $0) }
        }
        #expect(info.width == 28 && info.height == 28)
        let pixels = images.withItem(index) { [UInt8]($0) }
        #expect(pixels.count == 28 * 28)
        #expect(pixels.contains { $0 != 0 })
        var mismatches = 0
        for (i, gray) in pixels.enumerated() where rgb[3 * i] != gray || rgb[3 * i + 1] != gray || rgb[3 * i + 2] != gray {
            mismatches += 1
        }
        #expect(mismatches == 0)

        let again = try FashionMNIST.export(from: debianSource, to: out, trainPerClass: 3, valPerClass: 2)
        #expect(again.written == 0)
        #expect(again.train.unchanged == 30 && again.val.unchanged == 20)
        #expect(again.train.perClass == summary.train.perClass)
    }

    @Test func wrongMagicNamesTheFile() throws {
        let temporary = try TemporaryDirectory(prefix: "loom-fashion-mnist-")
        defer { withExtendedLifetime(temporary) {} }  // an optimizer may otherwise delete it early
        let directory = temporary.path
        let path = directory + "/labels-idx1-ubyte.gz"
        try writeGzip(bigEndian(0x0000_0803) + bigEndian(2) + [1, 2], to: path)
        let error = #expect(throws: DatasetError.self) { try IDXFile(contentsOf: path, expecting: .labels) }
        #expect(error?.path == path)
        #expect(error?.description.contains(path) == true)
        #expect(error?.message.contains("magic") == true)
    }

    @Test func truncatedPayloadNamesTheFile() throws {
        let temporary = try TemporaryDirectory(prefix: "loom-fashion-mnist-")
        defer { withExtendedLifetime(temporary) {} }  // an optimizer may otherwise delete it early
        let directory = temporary.path
        let path = directory + "/images-idx3-ubyte.gz"
        let header = bigEndian(0x0000_0803) + bigEndian(10) + bigEndian(28) + bigEndian(28)
        try writeGzip(header + [UInt8](repeating: 7, count: 28 * 28 * 3 + 5), to: path)
        let error = #expect(throws: DatasetError.self) { try IDXFile(contentsOf: path, expecting: .images) }
        #expect(error?.description.contains(path) == true)
        #expect(error?.message.contains("truncated") == true)
    }

    @Test func truncatedGzipStreamNamesTheFile() throws {
        let temporary = try TemporaryDirectory(prefix: "loom-fashion-mnist-")
        defer { withExtendedLifetime(temporary) {} }  // an optimizer may otherwise delete it early
        let directory = temporary.path
        let path = directory + "/labels-idx1-ubyte.gz"
        // Varied bytes so the compressed stream is long enough to cut in the middle.
        let labels = (0..<20_000).map { UInt8(truncatingIfNeeded: ($0 &* 7919) >> 3) % 10 }
        try writeGzip(bigEndian(0x0000_0801) + bigEndian(UInt32(labels.count)) + labels, to: path)
        let whole = try #require(FileManager.default.contents(atPath: path))
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: DatasetError.self) { try IDXFile(contentsOf: path, expecting: .labels) }
        #expect(error?.description.contains(path) == true)
        #expect(error?.message.contains("cannot decompress") == true)
    }

    @Test func missingSourceSaysWhatToInstall() throws {
        let temporary = try TemporaryDirectory(prefix: "loom-fashion-mnist-")
        defer { withExtendedLifetime(temporary) {} }  // an optimizer may otherwise delete it early
        let directory = temporary.path
        let error = #expect(throws: DatasetError.self) {
            try FashionMNIST.export(from: directory, to: directory + "/out", trainPerClass: 1, valPerClass: 1)
        }
        #expect(error?.path.hasPrefix(directory) == true)
        #expect(error?.message.contains("apt-get install dataset-fashion-mnist") == true)
    }
}

/// The file name export gives IDX item `index`.
private func pngName(_ index: Int) -> String {
    let digits = String(index)
    return String(repeating: "0", count: max(0, 5 - digits.count)) + digits + ".png"
}

private func bigEndian(_ value: UInt32) -> [UInt8] {
    [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: value >> $0) }
}

/// Writes `bytes` as a gzip file with zlib, as the Debian package's files are made.
private func writeGzip(_ bytes: [UInt8], to path: String) throws {
    let file = try #require(gzopen(path, "wb"))
    let written = bytes.withUnsafeBytes { gzwrite(file, $0.baseAddress, UInt32($0.count)) }
    #expect(gzclose(file) == Z_OK)
    #expect(Int(written) == bytes.count)
}
