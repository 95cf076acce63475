import Foundation
import Glibc
import LoomIngest
import LoomStore
import LoomTestSupport
import Testing

/// Names that Swift's `String` calls equal (Unicode canonical equivalence) but the file system
/// and SQLite keep apart: each is its own class folder, file and catalog row.
@Suite("ingest keys names by their bytes")
struct HardeningNamesTests {
    /// "café" with U+00E9, and with "e" + U+0301.
    static let nfc = "caf\u{E9}"
    static let nfd = "cafe\u{301}"
    /// ANGSTROM SIGN (U+212B) is canonically equivalent to U+00C5, so Swift orders it before
    /// "Ð" (U+00D0); by code point, as Python sorts, it comes after.
    static let angstrom = "\u{212B}"
    static let eth = "\u{D0}"
    /// torchvision's `ImageFolder` labels: `sorted(os.scandir names)`, code-point order.
    static let torchvisionOrder = [nfd, nfc, eth, angstrom]

    @Test("Unicode-equivalent class folders are two classes, labelled in byte order, and re-ingest finds nothing changed",
          .tags(.hardening))
    func equivalentNamesStayApart() throws {
        let temp = try TemporaryDirectory(prefix: "loom-names-")
        let root = temp.appending("data")
        var seed: UInt64 = 100
        var written: [String] = []
        for folder in Self.torchvisionOrder {
            // Two files in each class whose names are equivalent too.
            for name in ["\u{E9}.jpg", "e\u{301}.jpg"] {
                seed += 1
                try RawFiles.write(FixtureImages.jpeg(width: 40, height: 30, seed: seed), to: root + "/" + folder + "/" + name)
                written.append(folder + "/" + name)
            }
        }
        #expect(try RawFiles.namesOnDisk(root).count == 4, "the test needs four distinct folders on disk")
        try RawFiles.write(Array("\(Self.nfc) NFC cafe\n\(Self.nfd) NFD cafe\n".utf8), to: root + "/LOC_synset_mapping.txt")

        let store = try Store(StoreLayout(root: temp.appending("store")), access: .readWrite)
        let first = try Ingestor(store: store, options: .init(dataset: "names", workers: 2)).run(root: root)
        #expect(first.classes == 4 && first.files == 8 && first.added == 8 && first.rejected.isEmpty, "\(first)")

        let stats = try StoreStats.collect(store)
        let classes = try #require(stats.datasets.first?.splits.first?.classes)
        #expect(classes.map { Array($0.wnid.utf8) } == Self.torchvisionOrder.map { Array($0.utf8) },
                "labels follow byte order: \(classes.map { Array($0.wnid.unicodeScalars) })")
        #expect(classes.map(\.label) == [0, 1, 2, 3])
        #expect(classes.allSatisfy { $0.images == 2 }, "\(classes.map(\.images))")
        #expect(classes.first { Array($0.wnid.utf8) == Array(Self.nfc.utf8) }?.name == "NFC cafe")
        #expect(classes.first { Array($0.wnid.utf8) == Array(Self.nfd.utf8) }?.name == "NFD cafe")

        var listed: [[UInt8]] = []
        try RealImageListing.forEach(store, dataset: "names") { entry in
            listed.append(Array(entry.path.utf8))
            let folder = Array(entry.path.utf8.prefix { $0 != UInt8(ascii: "/") })
            #expect(Array(entry.class.utf8) == folder, "\(entry.path) is filed under its own folder")
        }
        #expect(listed.sorted { $0.lexicographicallyPrecedes($1) } == written.map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) })

        let second = try Ingestor(store: store, options: .init(dataset: "names", workers: 2)).run(root: root)
        #expect(second.unchanged == 8 && second.updated == 0 && second.added == 0 && second.duplicates == 0, "\(second)")
    }

    @Test("a class-names file may name both of two equivalent folders", .tags(.hardening))
    func classNamesFileKeepsEquivalentIDsApart() throws {
        let file = try ClassNamesFile(text: "\(Self.nfc) first\n\(Self.nfd) second\n")
        #expect(file.names.count == 2)
        let byBytes = Dictionary(uniqueKeysWithValues: file.names.map { (Array($0.key.description.utf8), $0.value.name) })
        #expect(byBytes[Array(Self.nfc.utf8)] == "first" && byBytes[Array(Self.nfd.utf8)] == "second", "\(byBytes)")
        #expect(throws: IngestError.self) { try ClassNamesFile(text: "\(Self.nfc) first\n\(Self.nfc) again\n") }
    }

    @Test("ExactName compares, hashes and orders by UTF-8 bytes")
    func exactNameIsBytewise() {
        #expect(Self.nfc == Self.nfd, "the premise: Swift's String calls them equal")
        #expect(ExactName(Self.nfc) != ExactName(Self.nfd))
        #expect(Set([ExactName(Self.nfc), ExactName(Self.nfd), ExactName(Self.nfc)]).count == 2)
        let sorted: [[UInt8]] = Self.torchvisionOrder.shuffled().map { ExactName($0) }.sorted().map { Array($0.string.utf8) }
        #expect(sorted == Self.torchvisionOrder.map { Array($0.utf8) })
    }
}

/// File operations by exact bytes (POSIX calls take the String's UTF-8 unchanged).
enum RawFiles {
    static func write(_ bytes: [UInt8], to path: String) throws {
        try makeDirectories((path as NSString).deletingLastPathComponent)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Failure("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard bytes.withUnsafeBytes({ Glibc.write(fd, $0.baseAddress, $0.count) }) == bytes.count else { throw Failure("short write to \(path)") }
    }

    static func makeDirectories(_ path: String) throws {
        var prefix = ""
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST { throw Failure("cannot create \(prefix): \(String(cString: strerror(errno)))") }
        }
    }

    /// The entries of `directory` as raw bytes (what readdir returns).
    static func namesOnDisk(_ directory: String) throws -> [[UInt8]] {
        guard let dir = opendir(directory) else { throw Failure("cannot list \(directory)") }
        defer { closedir(dir) }
        var names: [[UInt8]] = []
        while let item = readdir(dir) {
            let bytes = withUnsafeBytes(of: item.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            if bytes.first != UInt8(ascii: ".") { names.append(bytes) }
        }
        return names
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}
