import Foundation
@testable import LoomTrain
import LoomStore
import Testing

@Suite struct TensorArchiveTests {
    static let sample = TensorArchive(
        tensors: [
            "stage1.0.conv1.weight": Tensor(shape: [2, 1, 1, 3], data: [1, -0.0, .infinity, -.infinity, .leastNonzeroMagnitude, 3.25]),
            "bn1.num_batches_tracked": Tensor(shape: [], data: [42]),
            "empty": Tensor(shape: [0, 4], data: []),
            "nan": Tensor(shape: [2], data: [Float(bitPattern: 0x7FC0_1234), Float(bitPattern: 0xFF80_0001)]),
            "naïve": Tensor(shape: [1], data: [7]),
        ],
        metadata: ["model": "resnet-small", "epoch": "3", "note": "ünïcode ✓", "": "empty key"])

    @Test func roundTripIsBitwise() throws {
        let bytes = Self.sample.encoded()
        let decoded = try TensorArchive(decoding: bytes)
        #expect(decoded.metadata == Self.sample.metadata)
        #expect(Set(decoded.tensors.keys) == Set(Self.sample.tensors.keys))
        for (name, tensor) in Self.sample.tensors {
            #expect(decoded.tensors[name]!.bitwiseEqual(tensor), "\(name)")
        }
        #expect(decoded.encoded() == bytes)
    }

    @Test func encodingIsDeterministicAndSelfDescribing() {
        var reordered = TensorArchive()
        for name in Self.sample.tensors.keys.sorted().reversed() { reordered.tensors[name] = Self.sample.tensors[name] }
        for key in Self.sample.metadata.keys.sorted().reversed() { reordered.metadata[key] = Self.sample.metadata[key] }
        let bytes = Self.sample.encoded()
        #expect(reordered.encoded() == bytes)
        #expect(Array(bytes[0..<8]) == Array("LOOMTENS".utf8))
        #expect(Array(bytes[8..<12]) == [1, 0, 0, 0], "version 1, little-endian")
        let declared = bytes[16..<24].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * $1.offset) }
        #expect(declared == UInt64(bytes.count))
        let crc = bytes[(bytes.count - 4)...].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * $1.offset) }
        #expect(crc == CRC32.checksum(Array(bytes[0..<(bytes.count - 4)])))
    }

    @Test func crcIsZlibs() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([]) == 0)
    }

    @Test func rejectsEveryTruncation() {
        let bytes = Self.sample.encoded()
        for length in 0..<bytes.count {
            #expect(throws: TrainError.self, "prefix of \(length) bytes") { try TensorArchive(decoding: Array(bytes[0..<length])) }
        }
        #expect(throws: TrainError.self) { try TensorArchive(decoding: bytes + [0]) }
        do {
            _ = try TensorArchive(decoding: Array(bytes.dropLast(10)))
            Issue.record("truncated archive decoded")
        } catch {
            #expect("\(error)".contains("truncated"), "\(error)")
        }
    }

    @Test func rejectsEveryFlippedByte() {
        let bytes = Self.sample.encoded()
        for index in bytes.indices {
            var corrupt = bytes
            corrupt[index] ^= 0x10
            #expect(throws: TrainError.self, "byte \(index) flipped") { try TensorArchive(decoding: corrupt) }
        }
        var corrupt = bytes
        corrupt[bytes.count / 2] ^= 1
        do {
            _ = try TensorArchive(decoding: corrupt)
            Issue.record("corrupt archive decoded")
        } catch {
            #expect("\(error)".contains("corrupt"), "\(error)")
        }
    }

    @Test func emptyArchive() throws {
        let bytes = TensorArchive().encoded()
        #expect(bytes.count == TensorArchive.headerSize + TensorArchive.trailerSize)
        #expect(try TensorArchive(decoding: bytes) == TensorArchive())
    }
}
