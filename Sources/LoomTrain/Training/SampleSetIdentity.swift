import LoomLoader
import LoomStore

/// Which images a run trained on, in one hash: the same selection string names different images
/// once more are generated, so a run's identity includes this, not just the string.
struct SampleSetIdentity: Codable, Sendable, Hashable {
    var count: Int
    /// SHA-256 over each component's (blob digest, label) pairs in table order.
    var digest: String

    init(_ table: SampleTable) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(table.count * 36 + table.components.count * 4)
        for (range, _) in table.components {
            for index in range {
                withUnsafeBytes(of: table.locations[index].digest.bytes) { bytes.append(contentsOf: $0) }
                withUnsafeBytes(of: table.labels[index].littleEndian) { bytes.append(contentsOf: $0) }
            }
            bytes.append(contentsOf: [0xFF, 0xFF, 0xFF, 0xFF])  // component boundary
        }
        count = table.count
        digest = Digest.sha256(bytes).hex
    }
}
