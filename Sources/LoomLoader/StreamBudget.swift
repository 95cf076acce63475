import Foundation

/// How much memory one stream of batches (`loom stream`, `GET /v1/batches`) may hold.
///
/// Every parameter of a stream can be in range while their product is not: batch 1000 at
/// 4096 px is 50 GB per batch buffer, and the loader allocates a ring of them up front. The
/// budget is checked before anything is allocated, by the CLI and the server alike, and counts
/// every batch-sized buffer the stream holds: the loader's ring plus the consumer's own
/// (encoded frames waiting for the socket, shared-memory slots).
public struct StreamBudget: Sendable, Equatable {
    /// 1 GiB: 27 buffers of the default batch (256 at 224 px, 36.8 MiB each).
    public static let defaultBytes = 1 << 30

    public var bytes: Int

    public init(bytes: Int = StreamBudget.defaultBytes) {
        self.bytes = bytes
    }

    /// One batch buffer: `batch x size x size x 3` bytes; nil when that overflows.
    public static func batchBytes(batch: Int, size: Int) -> Int? {
        let (square, o1) = size.multipliedReportingOverflow(by: size)
        let (sample, o2) = square.multipliedReportingOverflow(by: 3)
        let (total, o3) = sample.multipliedReportingOverflow(by: batch)
        return o1 || o2 || o3 ? nil : total
    }

    /// The loader's ring for a stream: its default where that fits in the budget, else as many
    /// buffers as fit. Fewer buffers only lower prefetch; the batches are the same.
    /// - Parameters:
    ///   - options: the loader's options; `prefetch` nil means the loader's default ring.
    ///   - consumerBuffers: batch-sized buffers the consumer holds besides the ring.
    /// - Returns: the `prefetch` to give the loader.
    /// - Throws: ``Exceeded`` when even the smallest ring does not fit.
    public func prefetch(for options: Loader.Options, size: Int, consumerBuffers: Int) throws(Exceeded) -> Int {
        let wanted = options.batchBuffers
        let minimum = Loader.Options.minimumBatchBuffers
        guard let one = Self.batchBytes(batch: options.batchSize, size: size), one > 0 else {
            throw Exceeded(batch: options.batchSize, size: size, buffers: minimum + consumerBuffers, needed: nil, limit: bytes)
        }
        let fitting = bytes / one - consumerBuffers
        guard fitting >= minimum else {
            let buffers = minimum + consumerBuffers
            let (needed, overflow) = one.multipliedReportingOverflow(by: buffers)
            throw Exceeded(batch: options.batchSize, size: size, buffers: buffers, needed: overflow ? nil : needed, limit: bytes)
        }
        return min(wanted, fitting)
    }

    /// A stream that does not fit: what it would need and the budget it is over.
    public struct Exceeded: Error, CustomStringConvertible, Sendable {
        public var batch: Int
        public var size: Int
        /// The fewest batch buffers such a stream holds.
        public var buffers: Int
        /// Bytes those buffers take; nil past Int.max.
        public var needed: Int?
        public var limit: Int

        public var description: String {
            let total = needed.map(StreamBudget.format) ?? "more than \(StreamBudget.format(Int.max))"
            return "batch \(batch) at size \(size) needs \(total) (\(buffers) buffers of \(batch)x\(size)x\(size)x3 bytes), "
                + "over the per-stream memory budget of \(StreamBudget.format(limit)); lower batch or size"
        }
    }

    /// Bytes for people: `1 GiB`, `38.5 MiB`, `512 B`.
    public static func format(_ bytes: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var value = Double(bytes), unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        if unit == 0 { return "\(bytes) B" }
        let rounded = (value * 10).rounded() / 10
        return rounded == rounded.rounded() ? "\(Int(rounded)) \(units[unit])" : "\(rounded) \(units[unit])"
    }

    /// A byte count as people write it: `1073741824`, `512MiB`, `1GiB`, `1.5G`, `800MB`.
    /// K/M/G/T and KiB/MiB/GiB/TiB are powers of 1024; KB/MB/GB/TB powers of 1000.
    public static func parseBytes(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let digits = trimmed.prefix { $0.isNumber || $0 == "." }
        let unit = trimmed.dropFirst(digits.count).trimmingCharacters(in: .whitespaces).lowercased()
        let scales: [String: Double] = [
            "": 1, "b": 1,
            "k": 0x1p10, "kib": 0x1p10, "kb": 1e3,
            "m": 0x1p20, "mib": 0x1p20, "mb": 1e6,
            "g": 0x1p30, "gib": 0x1p30, "gb": 1e9,
            "t": 0x1p40, "tib": 0x1p40, "tb": 1e12,
        ]
        guard !digits.isEmpty, let number = Double(digits), let scale = scales[unit] else { return nil }
        let value = (number * scale).rounded()
        guard value.isFinite, value >= 0, value < 0x1p62 else { return nil }
        return Int(value)
    }
}

extension Loader.Options {
    /// The fewest batch buffers a loader works with: one the consumer holds, one being filled.
    public static let minimumBatchBuffers = 2

    /// Batch buffers the loader allocates: `prefetch`, else workers + 2 (each worker fills one
    /// while the consumer holds one and one waits ready).
    public var batchBuffers: Int { max(Self.minimumBatchBuffers, prefetch ?? workers + 2) }
}
