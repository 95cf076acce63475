import Foundation

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
        var data: [UInt8] = []
        for name in tensors.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            let tensor = tensors[name]!
            let start = data.count
            if int64.contains(name) {
                for value in tensor.data { withUnsafeBytes(of: Int64(value.rounded()).littleEndian) { data += $0 } }
            } else {
                for value in tensor.data { withUnsafeBytes(of: value.bitPattern.littleEndian) { data += $0 } }
            }
            header[name] = ["dtype": int64.contains(name) ? "I64" : "F32", "shape": tensor.shape, "data_offsets": [start, data.count]]
        }
        var json = Array(try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]))
        // Padded with spaces to 8 bytes, so the data that follows is aligned, as the reference writer does.
        while json.count % 8 != 0 { json.append(0x20) }
        var file: [UInt8] = []
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { file += $0 }
        return file + json + data
    }
}
