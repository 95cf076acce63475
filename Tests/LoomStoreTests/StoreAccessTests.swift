import Foundation
import Synchronization
import GRDB
@testable import LoomStore
import LoomTestSupport
import Testing

@Suite("Store access")
struct StoreAccessTests {
    @Test("one writer at a time; the lock goes with the writer")
    func writerLock() throws {
        let scratch = try ScratchStore()
        var first: StoreWriter? = try scratch.store.makeWriter()
        #expect(first != nil)
        let error = #expect(throws: StoreError.self) { try scratch.store.makeWriter() }
        #expect(error?.code == .locked)
        #expect(error?.path == scratch.layout.lockPath)
        // A second Store over the same files (as another process would open it) is refused too.
        let other = try scratch.reopen(.readWrite)
        let otherError = #expect(throws: StoreError.self) { try other.makeWriter() }
        #expect(otherError?.code == .locked)

        // The refused writers did not disturb the holder.
        let blob = TestBlob.random(100, seed: 600)
        try first!.stage([blob])
        try first!.commit { _, _ in }

        first = nil
        let second = try scratch.store.makeWriter()
        #expect(try scratch.store.blobs.read(digest: blob.digest) == blob.bytes)
        #expect(throws: StoreError.self) { try other.makeWriter() }
        _ = second
    }

    @Test("a read-only store refuses writes")
    func readOnlyRefusesWrites() throws {
        let scratch = try ScratchStore()
        let blob = TestBlob.random(100, seed: 610)
        do {
            let writer = try scratch.makeWriter()
            try writer.stage([blob])
            try writer.commit { _, _ in }
        }
        let reader = try scratch.reopen(.readOnly)
        #expect(reader.access == .readOnly)
        #expect(throws: (any Error).self) {
            try reader.catalog.write { db in try db.execute(sql: "INSERT INTO datasets (name) VALUES ('sneaky')") }
        }
        #expect(throws: (any Error).self) {
            try reader.catalog.write { db in try db.execute(sql: "DELETE FROM blobs") }
        }
        #expect(try count(scratch.store, "SELECT count(*) FROM datasets") == 0)
        #expect(try count(scratch.store, "SELECT count(*) FROM blobs") == 1)
        let error = #expect(throws: StoreError.self) { try reader.makeWriter() }
        #expect(error?.code == .invalidArgument)
        #expect(try reader.blobs.read(digest: blob.digest) == blob.bytes)
    }

    @Test("opening read-only where no store exists fails with no-store and creates nothing")
    func readOnlyWithoutStore() throws {
        let directory = try TemporaryDirectory(prefix: "loom-store-test-")
        let layout = StoreLayout(root: directory.appending("nothing-here"))
        let error = #expect(throws: StoreError.self) { try Store(layout, access: .readOnly) }
        #expect(error?.code == .noStore)
        #expect(!fileExists(layout.root))
        // An existing but empty directory is not a store either.
        let empty = StoreLayout(root: try directory.makeDirectory("empty"))
        let emptyError = #expect(throws: StoreError.self) { try Store(empty, access: .readOnly) }
        #expect(emptyError?.code == .noStore)
        #expect(!fileExists(empty.catalogPath))
        #expect(try FileManager.default.contentsOfDirectory(atPath: empty.root).isEmpty)
    }

    @Test("a read-write open creates the layout")
    func readWriteCreates() throws {
        let scratch = try ScratchStore()
        for path in [scratch.layout.root, scratch.layout.shardsDirectory, scratch.layout.tmpDirectory, scratch.layout.catalogPath] {
            #expect(fileExists(path), "\(path)")
        }
        #expect(StoreLayout.shardName(1) == "000001.loom")
        #expect(StoreLayout.shardName(1_234_567) == "1234567.loom")
        #expect(scratch.layout.shardPath(42) == scratch.layout.root + "/shards/000042.loom")
    }

    @Test("digest prefixes resolve when unique, and fail with the right code otherwise")
    func resolveDigest() throws {
        let scratch = try ScratchStore()
        // Two digests that share their first 16 bits (found by search; birthday odds make it quick).
        var seen: [UInt16: [UInt8]] = [:]
        var pair: ([UInt8], [UInt8])? = nil
        for i in 0..<100_000 {
            let bytes = Array("collide-\(i)".utf8)
            let raw = Digest.sha256(bytes).rawBytes
            let key = UInt16(raw[0]) << 8 | UInt16(raw[1])
            if let other = seen[key] { pair = (other, bytes); break }
            seen[key] = bytes
        }
        let (x, y) = try #require(pair)
        let a = TestBlob(x), b = TestBlob(y)
        let lone = TestBlob.random(64, seed: 620)
        let writer = try scratch.makeWriter()
        try writer.stage([a, b, lone])
        try writer.commit { _, _ in }
        let store = try scratch.reopen()

        func resolve(_ text: String) throws -> Digest { try RealImageListing.resolveDigest(store, text) }
        func code(_ text: String) -> StoreError.Code? {
            do {
                _ = try resolve(text)
                return nil
            } catch let error as StoreError {
                return error.code
            } catch {
                return StoreError.Code(rawValue: "unexpected \(error)")
            }
        }

        // Full digests, either case.
        for blob in [a, b, lone] {
            #expect(try resolve(blob.digest.hex) == blob.digest)
            #expect(try resolve(blob.digest.hex.uppercased()) == blob.digest)
        }
        // Unique prefixes, even and odd length, from 4 digits up.
        let loneHex = lone.digest.hex
        for length in [4, 5, 6, 11, 32, 63] {
            #expect(try resolve(String(loneHex.prefix(length))) == lone.digest, "prefix of \(length)")
        }
        #expect(try resolve(String(loneHex.prefix(8)).uppercased()) == lone.digest)

        // a and b share 4 digits: ambiguous there, unique once they differ.
        let shared = String(a.digest.hex.prefix(4))
        #expect(String(b.digest.hex.prefix(4)) == shared)
        #expect(code(shared) == .ambiguous)
        let differ = try #require(zip(a.digest.hex, b.digest.hex).enumerated().first { $0.element.0 != $0.element.1 }?.offset)
        if differ > 4 { #expect(code(String(a.digest.hex.prefix(differ))) == .ambiguous) }
        #expect(try resolve(String(a.digest.hex.prefix(differ + 1))) == a.digest)
        #expect(try resolve(String(b.digest.hex.prefix(differ + 1))) == b.digest)

        // Too short or not hex.
        for text in ["", "a", "abc", String(loneHex.prefix(3)), "xyz1", "12 34", "-123", "0x1234",
                     String(loneHex.prefix(10)) + "g", loneHex + "0", String(loneHex.dropLast()) + "z"] {
            #expect(code(text) == .invalidArgument, "\"\(text)\"")
        }

        // Unknown prefixes: flip the first digit of a known digest's prefix until nothing matches.
        let known = Set([a, b, lone].map { $0.digest.hex })
        let unknown = try #require(["0000", "ffff", "1234", "abcd", "5a5a"].first { p in !known.contains { $0.hasPrefix(p) } })
        #expect(code(unknown) == .notFound)
        #expect(code(unknown + "0") == .notFound)
        // A full digest resolves to itself whether or not it is stored (callers look it up next).
        let absent = Digest.sha256(Array("absent".utf8))
        #expect(try resolve(absent.hex) == absent)
        #expect(try store.blobs.location(of: absent) == nil)
    }
}

@Suite("Store lock descriptors")
struct StoreLockDescriptorTests {
    /// A refused lock must close its descriptor exactly once. A second `close` of the same number
    /// (the throwing initializer's own, then `deinit`'s) closes whatever another thread opened
    /// in between: in the test suite that was SQLite's catalog ("disk I/O error", "no such table").
    @Test("a refused writer lock leaves other threads' descriptors alone")
    func refusedLockClosesOnce() throws {
        let scratch = try ScratchStore()
        let holder = try scratch.store.makeWriter()
        let canaryPath = try scratch.directory.write(Array("canary bytes".utf8), to: "canary")
        let stop = Atomic<Bool>(false)
        let damaged = Atomic<Int>(0)
        let checks = Atomic<Int>(0)
        let group = DispatchGroup()
        for _ in 0..<3 {
            DispatchQueue.global().async(group: group) {
                var buffer = [UInt8](repeating: 0, count: 12)
                while !stop.load(ordering: .relaxed) {
                    let fd = open(canaryPath, O_RDONLY | O_CLOEXEC)
                    guard fd >= 0 else { continue }
                    for _ in 0..<20 {
                        let n = pread(fd, &buffer, buffer.count, 0)
                        if n != 12 || buffer != Array("canary bytes".utf8) { damaged.add(1, ordering: .relaxed) }
                    }
                    // EBADF here means someone closed our descriptor under us.
                    if close(fd) != 0 { damaged.add(1, ordering: .relaxed) }
                    checks.add(1, ordering: .relaxed)
                }
            }
        }
        var refused = 0
        // Run until both sides have done enough work, not for a fixed time: on a busy machine the
        // reader threads may get little CPU at first. The cap only bounds a hung run.
        let cap = Date().addingTimeInterval(30)
        while (refused < 200 || checks.load(ordering: .relaxed) < 200) && Date() < cap {
            do {
                _ = try scratch.store.makeWriter()
                Issue.record("a second writer got the lock")
            } catch let error as StoreError where error.code == .locked {
                refused += 1
            }
        }
        stop.store(true, ordering: .relaxed)
        group.wait()
        _ = holder
        #expect(refused > 100)
        #expect(checks.load(ordering: .relaxed) > 100)
        #expect(damaged.load(ordering: .relaxed) == 0, "descriptors closed or replaced under another thread")
    }
}
