import Foundation
import LoomStore

/// The safetensors file format (Hugging Face's): an 8-byte little-endian header length, a JSON
/// header naming each tensor's dtype, shape and byte range, then the raw little-endian data.
/// What `safetensors.torch.load_file` reads. Tensors are written in the byte order of their
/// names, so equal state gives equal bytes.
public enum SafeTensors {
    /// `tensors` as F32, except those named in `int64`, written as I64 (rounded), as torch keeps
    /// BatchNorm's `num_batches_tracked`.
    public static func encode(_ tensors: [String: Tensor], int64: Set<String> = [], metadata: [String: String] = [:]) throws -> [UInt8] {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        let names = tensors.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        var offset = 0
        for name in names {
            let tensor = tensors[name]!
            let size = tensor.data.count * (int64.contains(name) ? 8 : 4)
            header[name] = ["dtype": int64.contains(name) ? "I64" : "F32", "shape": tensor.shape, "data_offsets": [offset, offset + size]]
            offset += size
        }
        var json = Array(try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]))
        // Padded with spaces to 8 bytes, so the data that follows is aligned, as the reference writer does.
        while json.count % 8 != 0 { json.append(0x20) }
        var file: [UInt8] = []
        file.reserveCapacity(8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { file += $0 }
        file += json
        for name in names {
            let tensor = tensors[name]!
            if int64.contains(name) {
                for value in tensor.data { withUnsafeBytes(of: Int64(value.rounded()).littleEndian) { file += $0 } }
            } else {
                tensor.data.withUnsafeBufferPointer { values in
                    for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { file += $0 } }
                }
            }
        }
        return file
    }

    /// The element types Loom loads: every one torch writes for weights and counters.
    enum DType: String {
        case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16", i64 = "I64", i32 = "I32"

        var width: Int {
            switch self {
            case .f64, .i64: 8
            case .f32, .i32: 4
            case .f16, .bf16: 2
            }
        }
    }

    /// One tensor's place in a file: its bytes are `range` of the file, checked to hold its shape.
    struct Entry {
        var name: String
        var dtype: DType
        var shape: [Int]
        var range: Range<Int>
        var count: Int { range.count / dtype.width }
    }

    /// The tensors' entries and the `__metadata__` of a safetensors file, read from its header
    /// alone. `name` says what the bytes are in errors. Offsets are checked against the file, so a
    /// cut or padded file is refused rather than read as wrong weights.
    static func entries(_ bytes: [UInt8], name: String) throws -> (entries: [Entry], metadata: [String: String]) {
        func corrupt(_ why: String) -> TrainError { TrainError(.corrupt, "\(name) is not a readable safetensors file: \(why)") }
        guard bytes.count >= 8 else { throw corrupt("\(bytes.count) bytes is shorter than the header length") }
        let headerLength = bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= UInt64(bytes.count - 8) else { throw corrupt("a \(headerLength)-byte header in a \(bytes.count)-byte file") }
        let dataStart = 8 + Int(headerLength)
        guard let header = try? JSONSerialization.jsonObject(with: Data(bytes[8..<dataStart])) as? [String: Any] else {
            throw corrupt("the header is not a JSON object")
        }
        let dataSize = bytes.count - dataStart
        var metadata: [String: String] = [:]
        var entries: [Entry] = []
        var covered = 0
        for (key, value) in header {
            if key == "__metadata__" {
                guard let pairs = value as? [String: String] else { throw corrupt("__metadata__ is not a map of strings") }
                metadata = pairs
                continue
            }
            guard let entry = value as? [String: Any], let type = entry["dtype"] as? String,
                  let shape = (entry["shape"] as? [NSNumber])?.map(\.intValue), shape.allSatisfy({ $0 >= 0 }),
                  let offsets = (entry["data_offsets"] as? [NSNumber])?.map(\.intValue), offsets.count == 2 else {
                throw corrupt("tensor \(key) lacks a dtype, shape or data_offsets")
            }
            guard let dtype = DType(rawValue: type) else { throw corrupt("tensor \(key) has dtype \(type), which Loom does not load") }
            let (count, overflow) = shape.reduce((1, false)) { partial, dimension in
                let product = partial.0.multipliedReportingOverflow(by: dimension)
                return (product.partialValue, partial.1 || product.overflow)
            }
            guard !overflow, offsets[0] >= 0, offsets[1] <= dataSize, offsets[1] - offsets[0] == count * dtype.width else {
                throw corrupt("tensor \(key)'s bytes \(offsets) do not hold its shape \(shape) of \(type) within \(dataSize) data bytes")
            }
            covered += count * dtype.width
            entries.append(Entry(name: key, dtype: dtype, shape: shape, range: (dataStart + offsets[0])..<(dataStart + offsets[1])))
        }
        // The reference writer packs tensors end to end; bytes no tensor claims mean a damaged file.
        guard covered == dataSize else { throw corrupt("its tensors cover \(covered) of its \(dataSize) data bytes") }
        return (entries, metadata)
    }

    /// The tensors of a safetensors file, as float32, and its `__metadata__` (checked as ``entries(_:name:)`` checks).
    public static func decode(_ bytes: [UInt8], name: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        let (entries, metadata) = try entries(bytes, name: name)
        var tensors: [String: Tensor] = [:]
        for entry in entries { tensors[entry.name] = Tensor(shape: entry.shape, data: values(of: entry, in: bytes)) }
        return (tensors, metadata)
    }

    private static func values(of entry: Entry, in bytes: [UInt8]) -> [Float] {
        bytes.withUnsafeBytes { raw in
            let base = raw.baseAddress! + entry.range.lowerBound, width = entry.dtype.width
            func each(_ convert: (UnsafeRawPointer) -> Float) -> [Float] { (0..<entry.count).map { convert(base + $0 * width) } }
            switch entry.dtype {
            case .f32: return each { Float(bitPattern: UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self))) }
            case .f64: return each { Float(Double(bitPattern: UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)))) }
            case .i64: return each { Float(Int64(littleEndian: $0.loadUnaligned(as: Int64.self))) }
            case .i32: return each { Float(Int32(littleEndian: $0.loadUnaligned(as: Int32.self))) }
            case .f16: return each { Float(Float16(bitPattern: UInt16(littleEndian: $0.loadUnaligned(as: UInt16.self)))) }
            case .bf16: return each { Float(bitPattern: UInt32(UInt16(littleEndian: $0.loadUnaligned(as: UInt16.self))) << 16) }
            }
        }
    }
}
