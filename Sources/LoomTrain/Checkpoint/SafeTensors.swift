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

    /// The tensors of a safetensors file (every dtype torch writes for weights and counters:
    /// F32, F16, BF16, F64, I64, I32, as float32) and its `__metadata__`. `name` says what the
    /// bytes are in errors. Offsets are checked against the file, so a cut or padded file is
    /// refused rather than read as wrong weights.
    public static func decode(_ bytes: [UInt8], name: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
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
        var tensors: [String: Tensor] = [:]
        var covered = 0
        for (key, value) in header {
            if key == "__metadata__" {
                guard let entries = value as? [String: String] else { throw corrupt("__metadata__ is not a map of strings") }
                metadata = entries
                continue
            }
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                  let shape = (entry["shape"] as? [NSNumber])?.map(\.intValue), shape.allSatisfy({ $0 >= 0 }),
                  let offsets = (entry["data_offsets"] as? [NSNumber])?.map(\.intValue), offsets.count == 2 else {
                throw corrupt("tensor \(key) lacks a dtype, shape or data_offsets")
            }
            let width: Int
            switch dtype {
            case "F64", "I64": width = 8
            case "F32", "I32": width = 4
            case "F16", "BF16": width = 2
            default: throw corrupt("tensor \(key) has dtype \(dtype), which Loom does not load")
            }
            let (count, overflow) = shape.reduce((1, false)) { partial, dimension in
                let product = partial.0.multipliedReportingOverflow(by: dimension)
                return (product.partialValue, partial.1 || product.overflow)
            }
            guard !overflow, offsets[0] >= 0, offsets[1] <= dataSize, offsets[1] - offsets[0] == count * width else {
                throw corrupt("tensor \(key)'s bytes \(offsets) do not hold its shape \(shape) of \(dtype) within \(dataSize) data bytes")
            }
            covered += count * width
            tensors[key] = Tensor(shape: shape, data: bytes.withUnsafeBytes { raw in
                let base = raw.baseAddress! + dataStart + offsets[0]
                return (0..<count).map { index in
                    let at = base + index * width
                    switch dtype {
                    case "F32": return Float(bitPattern: UInt32(littleEndian: at.loadUnaligned(as: UInt32.self)))
                    case "F64": return Float(Double(bitPattern: UInt64(littleEndian: at.loadUnaligned(as: UInt64.self))))
                    case "I64": return Float(Int64(littleEndian: at.loadUnaligned(as: Int64.self)))
                    case "I32": return Float(Int32(littleEndian: at.loadUnaligned(as: Int32.self)))
                    case "F16": return Float(Float16(bitPattern: UInt16(littleEndian: at.loadUnaligned(as: UInt16.self))))
                    default: return Float(bitPattern: UInt32(UInt16(littleEndian: at.loadUnaligned(as: UInt16.self))) << 16)
                    }
                }
            })
        }
        // The reference writer packs tensors end to end; bytes no tensor claims mean a damaged file.
        guard covered == dataSize else { throw corrupt("its tensors cover \(covered) of its \(dataSize) data bytes") }
        return (tensors, metadata)
    }
}
