import Foundation
import GRDB
@testable import LoomStore
import LoomTestSupport
import Testing

@Suite("Digest")
struct DigestTests {
    @Test("SHA-256 of the FIPS 180-2 vectors", arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    ])
    func knownVectors(input: String, expected: String) {
        let digest = Digest.sha256(Array(input.utf8))
        #expect(digest.hex == expected)
        #expect(digest.description == expected)
        // The raw-buffer entry point agrees with the array one.
        let viaBuffer = Array(input.utf8).withUnsafeBytes { Digest.sha256($0) }
        #expect(viaBuffer == digest)
    }

    @Test("SHA-256 of a million 'a's (more than one block, more than one update)")
    func millionA() {
        let digest = Digest.sha256([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000))
        #expect(digest.hex == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test("hex and raw round trips")
    func hexRoundTrip() throws {
        for seed in UInt64(0)..<20 {
            let digest = Digest.sha256(randomBytes(Int(seed) * 7, seed: seed))
            #expect(digest.hex.count == 64)
            #expect(digest.hex == digest.hex.lowercased())
            #expect(Digest(hex: digest.hex) == digest)
            #expect(Digest(hex: digest.hex.uppercased()) == digest)
            #expect(Digest(raw: digest.rawBytes) == digest)
            #expect(digest.rawBytes.count == 32)
            // Each byte becomes two digits, high nibble first.
            let expectedHex = digest.rawBytes.map { String(format: "%02x", $0) }.joined()
            #expect(digest.hex == expectedHex)
        }
        let known = try #require(Digest(hex: "00ff10a0" + String(repeating: "0", count: 56)))
        #expect(Array(known.rawBytes.prefix(4)) == [0x00, 0xFF, 0x10, 0xA0])
    }

    @Test("malformed hex and raw input are refused", arguments: [
        "", "abc", String(repeating: "a", count: 63), String(repeating: "a", count: 65),
        String(repeating: "a", count: 63) + "g", String(repeating: "a", count: 62) + " a",
        String(repeating: "é", count: 32),
    ])
    func malformedHex(text: String) {
        #expect(Digest(hex: text) == nil)
    }

    @Test("raw input must be exactly 32 bytes")
    func rawLength() {
        #expect(Digest(raw: [UInt8](repeating: 1, count: 31)) == nil)
        #expect(Digest(raw: [UInt8](repeating: 1, count: 33)) == nil)
        #expect(Digest(raw: [UInt8]()) == nil)
        #expect(Digest(raw: [UInt8](repeating: 1, count: 32)) != nil)
    }

    @Test("order is byte-wise from the first byte, the same as hex order")
    func prefixOrder() throws {
        func digest(_ hexPrefix: String, fill: Character) throws -> Digest {
            try #require(Digest(hex: hexPrefix + String(repeating: fill, count: 64 - hexPrefix.count)))
        }
        // The first differing byte decides, whatever follows.
        #expect(try digest("00", fill: "f") < digest("01", fill: "0"))
        #expect(try digest("7f", fill: "f") < digest("80", fill: "0"))
        #expect(try digest("abcd00", fill: "f") < digest("abcd01", fill: "0"))
        #expect(try !(digest("01", fill: "0") < digest("00", fill: "f")))
        let same = try digest("42", fill: "a")
        #expect(!(same < same))
        #expect(same <= same)

        let digests = (0..<200).map { Digest.sha256(randomBytes(16, seed: UInt64($0))) }
        let misplaced = zip(digests.sorted().map(\.hex), digests.map(\.hex).sorted()).filter { $0 != $1 }.count
        #expect(misplaced == 0, "\(misplaced) of 200 digests sort differently from their hex")
        let misplacedDescending = zip(digests.sorted(by: >).map(\.hex), digests.map(\.hex).sorted(by: >)).filter { $0 != $1 }.count
        #expect(misplacedDescending == 0)
    }

    @Test("stored in SQLite as a 32-byte blob and read back")
    func databaseRoundTrip() throws {
        let db = try DatabaseQueue()
        let digest = Digest.sha256(Array("abc".utf8))
        try db.write { db in
            try db.execute(sql: "CREATE TABLE t (d BLOB)")
            try db.execute(sql: "INSERT INTO t (d) VALUES (?)", arguments: [digest.databaseValue])
        }
        let row = try #require(try db.read { db in
            try Row.fetchOne(db, sql: """
                SELECT typeof(d) AS type, length(d) AS length, lower(hex(d)) AS hex, d,
                       (SELECT count(*) FROM t WHERE d = ?) AS matches
                FROM t
                """, arguments: [digest.databaseValue])
        })
        #expect(row["type"] as String? == "blob")
        #expect(row["length"] as Int? == 32)
        #expect(row["hex"] as String? == digest.hex)
        #expect(row["d"] as Digest? == digest)
        // Lookups by digest match the stored bytes.
        #expect(row["matches"] as Int? == 1)
        #expect(Digest.fromDatabaseValue(digest.databaseValue) == digest)
        #expect(Digest.fromDatabaseValue(Data(count: 31).databaseValue) == nil)
        #expect(Digest.fromDatabaseValue(DatabaseValue.null) == nil)
        #expect(Digest.fromDatabaseValue(42.databaseValue) == nil)
    }
}
