import Foundation
import LoomStore

/// Appends little-endian fields to a byte array of known final size.
struct ByteWriter {
    private(set) var bytes: [UInt8]

    init(capacity: Int) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    mutating func append(_ raw: [UInt8]) { bytes.append(contentsOf: raw) }

    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// u32 byte length, then the UTF-8 bytes.
    mutating func appendString(_ string: String) {
        append(UInt32(string.utf8.count))
        bytes.append(contentsOf: string.utf8)
    }

    /// IEEE-754 float32 values, little-endian.
    mutating func append(_ floats: [Float]) {
        #if _endian(little)
        floats.withUnsafeBytes { bytes.append(contentsOf: $0) }
        #else
        for f in floats { append(f.bitPattern) }
        #endif
    }
}

/// Reads little-endian fields with bounds checks that name what ran out.
struct ByteReader {
    let bytes: [UInt8]
    var offset = 0
    var end: Int

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        end = bytes.count
    }

    private mutating func take(_ count: Int, for what: @autoclosure () -> String) throws -> Range<Int> {
        guard count >= 0, count <= end - offset else {
            throw TrainError(.corrupt, "tensor archive entry runs past its end: \(what()) needs \(count) bytes at offset \(offset), \(end - offset) left")
        }
        defer { offset += count }
        return offset..<(offset + count)
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type) throws -> T {
        let range = try take(MemoryLayout<T>.size, for: "a \(T.self) field")
        return T(littleEndianBytes: bytes[range])
    }

    mutating func readString() throws -> String {
        let length = try read(UInt32.self)
        let range = try take(Int(length), for: "a string")
        guard let string = String(validating: bytes[range], as: UTF8.self) else {
            throw TrainError(.corrupt, "tensor archive holds a name or value that is not UTF-8 at offset \(range.lowerBound)")
        }
        return string
    }

    mutating func readFloats(_ count: Int, name: String) throws -> [Float] {
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: 4)
        guard !overflow else { throw TrainError(.corrupt, "tensor '\(name)': shape overflows") }
        let range = try take(byteCount, for: "tensor '\(name)' (\(count) floats)")
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            bytes.withUnsafeBytes { raw in
                let source = UnsafeRawBufferPointer(rebasing: raw[range])
                #if _endian(little)
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: source)
                #else
                for i in 0..<count { buffer[i] = Float(bitPattern: source.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self).littleEndian) }
                #endif
            }
            initialized = count
        }
    }
}

extension FixedWidthInteger {
    /// The integer stored little-endian in exactly `MemoryLayout<Self>.size` bytes.
    init(littleEndianBytes bytes: ArraySlice<UInt8>) {
        precondition(bytes.count == MemoryLayout<Self>.size)
        var value: Self = 0
        for (shift, byte) in bytes.enumerated() { value |= Self(byte) << (8 * shift) }
        self = value
    }
}
