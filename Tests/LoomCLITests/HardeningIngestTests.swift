import Foundation
import Glibc
import LoomStore
import LoomTestSupport
import Testing

/// `loom export --json`.
private struct ExportJSON: Decodable {
    var dataset: String
    var out: String
    var files: Int
    var bytes: Int
    var written: Int
    var unchanged: Int
}

extension CLITests {
    // MARK: - Names compared as bytes

    @Test("NFC and NFD class folders: two classes in byte order, re-ingest changes nothing, export writes every file",
          .tags(.hardening))
    func unicodeEquivalentNamesEndToEnd() throws {
        let temp = try ScratchDirectory()
        let nfc = "caf\u{E9}", nfd = "cafe\u{301}"
        var images: [(path: String, bytes: [UInt8])] = []
        var seed: UInt64 = 700
        for folder in [nfc, nfd] {
            for name in ["\u{E9}.jpg", "e\u{301}.jpg", "plain.jpg"] {
                seed += 1
                images.append((folder + "/" + name, FixtureImages.jpeg(width: 48, height: 36, seed: seed)))
            }
        }
        for image in images { try ByteFiles.write(image.bytes, to: temp.appending("data/" + image.path)) }
        #expect(try ByteFiles.tree(temp.appending("data")).count == images.count, "the test needs six distinct files on disk")

        let store = CLIStore(temp.appending("store"))
        let first = try store.ingest(temp.appending("data"), dataset: "cafe")
        #expect(first.classes == 2 && first.added == images.count && first.rejected.isEmpty, "\(first)")

        let lines = try store.ls("cafe")
        #expect(lines.count == images.count)
        for line in lines {
            let folder = Array(line.path.utf8.prefix { $0 != UInt8(ascii: "/") })
            #expect(Array(line.class.utf8) == folder, "\(line) is filed under its own folder")
            // torchvision: sorted() by code point puts "cafe\u{301}" ('e' < 'é') first.
            #expect(line.label == (folder == Array(nfd.utf8) ? 0 : 1), "\(line)")
        }

        let second = try store.ingest(temp.appending("data"), dataset: "cafe")
        #expect(second.updated == 0 && second.unchanged == images.count && second.added == 0, "\(second)")

        let out = temp.appending("out")
        let report = try store.ok(["export", "--dataset", "cafe", "--split", "train", "--json", out]).decode(ExportJSON.self)
        let exported = try ByteFiles.tree(out)
        #expect(report.files == images.count && exported.count == images.count, "report \(report), on disk \(exported.count)")
        for image in images {
            #expect(try ByteFiles.read(out + "/" + image.path) == image.bytes, "export of \(Array(image.path.unicodeScalars))")
        }
    }

    @Test("export refuses two rows that map to one file, and never overwrites a different file", .tags(.hardening))
    func exportNeverOverwrites() throws {
        let temp = try ScratchDirectory()
        let store = CLIStore(temp.appending("store"))
        let first = FixtureImages.jpeg(width: 40, height: 30, seed: 801)
        let second = FixtureImages.jpeg(width: 40, height: 30, seed: 802)
        // The same dataset ingested in both layouts: split train holds `c/x.jpg` and `train/c/x.jpg`,
        // both class c, both named x.jpg.
        try temp.write(first, to: "flat/c/x.jpg")
        try temp.write(second, to: "nested/train/c/x.jpg")
        try store.ingest(temp.appending("flat"), dataset: "both", ["--split", "train"])
        try store.ingest(temp.appending("nested"), dataset: "both")
        let clash = try store.run(["export", "--dataset", "both", "--split", "train", temp.appending("clash")])
        #expect(!clash.succeeded && !clash.signaled, "\(clash)")
        #expect(clash.stderrText.contains("c/x.jpg") && clash.stderrText.contains("train/c/x.jpg"), "names both rows\n\(clash)")
        #expect(try ByteFiles.tree(temp.appending("clash")).isEmpty, "nothing is written before the clash is found")

        // An existing file with other bytes stays as it is.
        try temp.write(first, to: "one/c/a.jpg")
        try temp.write(second, to: "one/c/b.jpg")
        try store.ingest(temp.appending("one"), dataset: "one")
        let stranger = Array("someone else's file\n".utf8)
        try temp.write(stranger, to: "out/c/a.jpg")
        let overwrite = try store.run(["export", "--dataset", "one", "--split", "train", temp.appending("out")])
        #expect(!overwrite.succeeded && !overwrite.signaled, "\(overwrite)")
        #expect(overwrite.stderrText.contains(temp.appending("out/c/a.jpg")), "names the file\n\(overwrite)")
        #expect(try ByteFiles.read(temp.appending("out/c/a.jpg")) == stranger, "the existing file was overwritten")

        // Identical bytes already there: the export is a no-op for them, and running it twice is fine.
        try temp.write(first, to: "out/c/a.jpg")
        let again = try store.ok(["export", "--dataset", "one", "--split", "train", "--json", temp.appending("out")])
            .decode(ExportJSON.self)
        #expect(again.files == 2 && again.written == 1 && again.unchanged == 1, "\(again)")
        let third = try store.ok(["export", "--dataset", "one", "--split", "train", "--json", temp.appending("out")])
            .decode(ExportJSON.self)
        #expect(third.files == 2 && third.written == 0 && third.unchanged == 2, "\(third)")
        #expect(try ByteFiles.read(temp.appending("out/c/b.jpg")) == second)
        #expect(try ByteFiles.tree(temp.appending("out")).count == 2, "no temporary files are left")
    }

    // MARK: - Links and size bounds

    @Test("directory links out of ROOT are rejected unless --follow-links; links inside ROOT work as before", .tags(.hardening))
    func directoryLinksOutOfRoot() throws {
        let temp = try ScratchDirectory()
        try temp.write(FixtureImages.jpeg(width: 40, height: 30, seed: 811), to: "outside/o1.jpg")
        try temp.write(FixtureImages.jpeg(width: 40, height: 30, seed: 812), to: "outside/o2.jpg")
        try temp.write(FixtureImages.jpeg(width: 40, height: 30, seed: 813), to: "data/c/img.jpg")
        try temp.makeDirectory("data/d")
        try Files.symlink(temp.appending("data/c/escape"), pointingTo: temp.appending("outside"))
        try Files.symlink(temp.appending("data/c/file-link.jpg"), pointingTo: temp.appending("outside/o1.jpg"))
        try Files.symlink(temp.appending("data/d/inner"), pointingTo: "../c")
        let outside = try #require(realpath(temp.appending("outside"), nil).map { pointer in
            defer { free(pointer) }
            return String(cString: pointer)
        })

        let store = CLIStore(temp.appending("store"))
        let summary = try store.ingest(temp.appending("data"), dataset: "links")
        let rejected = Dictionary(summary.rejected.map { ($0.path, $0.reason) }) { first, _ in first }
        let reason = try #require(rejected["c/escape"], "the link out of ROOT is rejected: \(summary)")
        #expect(reason.contains(outside) && reason.contains("--follow-links"), "names the target and the way out: \(reason)")
        // The class folder reached through a link inside ROOT is walked, and its own link out is rejected there too.
        #expect(Set(try store.ls("links").map(\.path))
                == ["c/img.jpg", "c/file-link.jpg", "d/inner/img.jpg", "d/inner/file-link.jpg"], "\(summary)")
        #expect(Set(summary.rejected.map(\.path)) == ["c/escape", "d/inner/escape"], "\(summary)")

        let followed = try store.ingest(temp.appending("data"), dataset: "followed", ["--follow-links"])
        #expect(followed.rejected.isEmpty, "\(followed)")
        #expect(Set(try store.ls("followed").map(\.path)).isSuperset(of: ["c/escape/o1.jpg", "c/escape/o2.jpg"]))

        // A link to / is one rejection, not a walk of the whole file system.
        try temp.write(FixtureImages.jpeg(width: 40, height: 30, seed: 814), to: "rooted/c/img.jpg")
        try Files.symlink(temp.appending("rooted/c/everything"), pointingTo: "/")
        let rooted = try store.ingest(temp.appending("rooted"), dataset: "rooted")
        #expect(rooted.files == 1 && rooted.rejected.map(\.path) == ["c/everything"], "\(rooted)")
        // Followed on purpose, the walk stops at --max-files before anything is stored.
        let walked = try store.run(store.ingestArguments(temp.appending("rooted"), dataset: "walked",
                                                         ["--follow-links", "--max-files", "200"]))
        #expect(!walked.succeeded && !walked.signaled, "\(walked)")
        #expect(walked.stderrText.contains("200") && walked.stderrText.contains("--max-files"), "\(walked)")
        #expect(!(try store.stats().datasets.map(\.name).contains("walked")))

        // A split folder linked in from elsewhere still makes the layout train/val; only the link is rejected.
        try temp.write(FixtureImages.jpeg(width: 40, height: 30, seed: 815), to: "splits/val/c/v.jpg")
        try temp.write(FixtureImages.jpeg(width: 40, height: 30, seed: 816), to: "elsewhere/c/t.jpg")
        try Files.symlink(temp.appending("splits/train"), pointingTo: temp.appending("elsewhere"))
        let splits = try store.ingest(temp.appending("splits"), dataset: "splits")
        #expect(splits.layout == "train-val" && splits.splits == ["val"] && splits.rejected.map(\.path) == ["train"], "\(splits)")
    }

    @Test("--max-files stops an ingest before anything is stored", .tags(.hardening))
    func maxFilesBound() throws {
        let temp = try ScratchDirectory()
        let images = DatasetMaker.pictures(classes: ["a", "b"], perClass: 3, split: "train", seed: 821)
        try DatasetMaker.write(images, into: temp, root: "data")
        let store = CLIStore(temp.appending("store"))
        let over = try store.run(store.ingestArguments(temp.appending("data"), dataset: "six", ["--max-files", "5"]))
        #expect(!over.succeeded && !over.signaled, "\(over)")
        #expect(over.stderrText.contains("--max-files") && over.stderrText.contains("5")
                && over.stderrText.contains(temp.appending("data")), "\(over)")
        #expect(!FileManager.default.fileExists(atPath: store.path), "a refused ingest leaves no store behind")
        let fits = try store.ingest(temp.appending("data"), dataset: "six", ["--max-files", "6"])
        #expect(fits.added == images.count, "\(fits)")
    }

    // MARK: - Failures leave nothing behind

    @Test("an ingest that fails writing (file size limit, as on a full disk) leaves no dataset behind",
          .tags(.hardening), .enabled(if: Wrapper.hasPrlimit, "needs util-linux prlimit"))
    func failedIngestLeavesNoDataset() throws {
        let temp = try ScratchDirectory()
        let small = DatasetMaker.pictures(classes: ["s"], perClass: 1, split: "train", seed: 831)
        try DatasetMaker.write(small, into: temp, root: "small")
        let store = CLIStore(temp.appending("store"))
        try store.ingest(temp.appending("small"), dataset: "small")

        // Every file may grow by 512 KiB at most; the new images need about 3 MiB of shard.
        let largest = try FileManager.default.subpathsOfDirectory(atPath: store.path).map { path -> Int in
            let attributes = try FileManager.default.attributesOfItem(atPath: store.path + "/" + path)
            return (attributes[.size] as? NSNumber)?.intValue ?? 0
        }.max() ?? 0
        let limit = largest + (512 << 10)
        let base = FixtureImages.jpeg(width: 48, height: 36, seed: 832)
        var generator = SeededGenerator(seed: 833)
        for index in 0..<48 {
            let comment = String((0..<60_000).map { _ in Character(UnicodeScalar(UInt8(0x21 + generator.next() % 94))) })
            try temp.write(DatasetMaker.commented(base, comment), to: "big/c/\(index).jpg")
        }
        let failed = try Wrapper.run(Wrapper.fileSizeLimit(limit), store.ingestArguments(temp.appending("big"), dataset: "big") + ["--store", store.path])
        #expect(!failed.succeeded && !failed.signaled, "the ingest must fail with an error\n\(failed)")
        #expect(try store.stats().datasets.map(\.name) == ["small"], "the failed ingest left a dataset behind")
        try store.expectClean()

        let retried = try store.ingest(temp.appending("big"), dataset: "big")
        #expect(retried.added == 48, "\(retried)")
    }

    @Test("an unreadable class folder is a rejection naming it, not an empty class",
          .tags(.hardening), .enabled(if: Wrapper.unreadable != nil, "cannot make a folder unreadable for this user"))
    func unreadableClassFolder() throws {
        let temp = try ScratchDirectory()
        try temp.write(FixtureImages.jpeg(width: 40, height: 30, seed: 841), to: "data/good/a.jpg")
        try temp.write(FixtureImages.jpeg(width: 40, height: 30, seed: 842), to: "data/locked/b.jpg")
        let locked = temp.appending("data/locked")
        chmod(locked, 0)
        defer { chmod(locked, 0o755) }
        let store = CLIStore(temp.appending("store"))
        let run = try Wrapper.run(Wrapper.unreadable!, store.ingestArguments(temp.appending("data"), dataset: "locked") + ["--store", store.path])
        let summary = try run.decode(IngestJSON.self)
        #expect(summary.classes == 1, "\(summary)")
        let reason = try #require(summary.rejected.first { $0.path == "locked" }?.reason, "\(summary)")
        #expect(reason.lowercased().contains("permission denied"), "\(reason)")
        let stats = try store.stats()
        #expect(stats.datasets.first?.classes == 1, "\(stats.datasets)")
        #expect(try store.ls("locked").map(\.class) == ["good"])
    }

    // MARK: - Rejection reasons

    @Test("the rejection of a text file says what it is without quoting it", .tags(.hardening))
    func textRejectionDoesNotLeak() throws {
        let temp = try ScratchDirectory()
        try temp.write(FixtureImages.jpeg(width: 40, height: 30, seed: 851), to: "data/c/ok.jpg")
        try temp.write("password=hunter2\nroot:x:0:0\n", to: "secret.txt")
        try Files.symlink(temp.appending("data/c/secret.jpg"), pointingTo: temp.appending("secret.txt"))
        try temp.write("api-key 12345", to: "data/c/notes.jpg")
        try temp.write([0x00, 0x01, 0x02, 0x03, 0x42, 0x43, 0x44, 0x45], to: "data/c/blob.jpg")
        let summary = try CLIStore(temp.appending("store")).ingest(temp.appending("data"), dataset: "d")
        let reasons = Dictionary(summary.rejected.map { ($0.path, $0.reason) }) { first, _ in first }
        #expect(reasons.count == 3, "\(summary)")
        for (path, reason) in reasons {
            for secret in ["password", "hunter2", "root:x", "api-key", "12345", "42 43", "BCDE", "00 01"] {
                #expect(!reason.contains(secret), "\(path): the reason quotes the file: \(reason)")
            }
            #expect(reason.contains("not an image"), "\(path): \(reason)")
        }
        #expect(reasons["c/secret.jpg"]?.contains("text") == true && reasons["c/notes.jpg"]?.contains("text") == true, "\(reasons)")
        #expect(reasons["c/blob.jpg"]?.contains("text") == false, "\(reasons)")
    }
}

// MARK: - Helpers

/// Runs `loom` under a wrapper program (a resource limit, dropped capabilities).
private enum Wrapper {
    /// `prlimit --fsize=BYTES`, with SIGXFSZ ignored so a write past the limit fails with EFBIG
    /// (as a full disk fails with ENOSPC) instead of killing the process.
    static func fileSizeLimit(_ bytes: Int) -> [String] {
        ["/bin/sh", "-c", "trap '' XFSZ; exec /usr/bin/prlimit --fsize=\(bytes) -- \"$@\"", "sh"]
    }

    static let hasPrlimit = FileManager.default.isExecutableFile(atPath: "/usr/bin/prlimit")

    /// A prefix under which a mode-000 folder cannot be read: none for an ordinary user; for
    /// root (whom permission bits do not stop), `setpriv` without the DAC capabilities. Nil when
    /// neither reproduces it (checked on a real folder).
    static let unreadable: [String]? = {
        let prefix = geteuid() == 0 ? ["/usr/bin/setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"] : []
        guard let probe = try? TemporaryDirectory(prefix: "loom-unreadable-probe-") else { return nil }
        let folder = probe.appending("locked")
        guard mkdir(folder, 0) == 0 else { return nil }
        defer { chmod(folder, 0o755) }
        guard let probed = try? run(prefix, ["/bin/ls", folder], loom: false) else { return nil }
        return probed.succeeded ? nil : prefix
    }()

    static func run(_ prefix: [String], _ arguments: [String], loom: Bool = true) throws -> LoomRun {
        let command = prefix + (loom ? [try LoomBinary.path()] : []) + arguments
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        var environment = ProcessInfo.processInfo.environment
        environment["LOOM_STORE"] = nil
        environment["LOOM_SHARD_BYTES"] = nil
        environment["CI"] = "1"
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        let scratch = try TemporaryDirectory(prefix: "loom-wrapped-")
        let outPath = scratch.appending("stdout"), errPath = scratch.appending("stderr")
        guard FileManager.default.createFile(atPath: outPath, contents: nil),
              FileManager.default.createFile(atPath: errPath, contents: nil) else { throw LoomFailure("cannot create \(outPath)") }
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        process.standardOutput = out
        process.standardError = err
        let started = ContinuousClock.now
        try process.run()
        process.waitUntilExit()
        try? out.close()
        try? err.close()
        return LoomRun(
            arguments: command, status: process.terminationStatus, signaled: process.terminationReason == .uncaughtSignal,
            timedOut: false, stdout: (try? Data(contentsOf: URL(fileURLWithPath: outPath))) ?? Data(),
            stderr: (try? Data(contentsOf: URL(fileURLWithPath: errPath))) ?? Data(), seconds: (ContinuousClock.now - started).seconds)
    }
}

/// File operations by exact bytes: Swift's `String` would merge names that differ only in
/// Unicode normalization, so listings are kept as raw `readdir` bytes.
private enum ByteFiles {
    static func write(_ bytes: [UInt8], to path: String) throws {
        var prefix = ""
        for component in path.split(separator: "/").dropLast() {
            prefix += "/" + component
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST { throw LoomFailure("cannot create \(prefix)") }
        }
        try Files.write(bytes, to: path)
    }

    static func read(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw LoomFailure("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { break }
            bytes += chunk[..<n]
        }
        return bytes
    }

    /// Every file below `root` (hidden ones too), as raw relative paths; empty when `root` is missing.
    static func tree(_ root: String) throws -> [[UInt8]] {
        guard let dir = opendir(root) else { return [] }
        defer { closedir(dir) }
        var found: [[UInt8]] = []
        while let item = readdir(dir) {
            let name = withUnsafeBytes(of: item.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            if name == [0x2E] || name == [0x2E, 0x2E] { continue }
            let path = root + "/" + String(decoding: name, as: UTF8.self)
            if item.pointee.d_type == UInt8(DT_DIR) {
                found += try tree(path).map { name + [0x2F] + $0 }
            } else {
                found.append(name)
            }
        }
        return found
    }
}
