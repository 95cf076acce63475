import LoomStore

/// Where a stream stands: printed as a token, accepted back by `--resume` and `cursor=`.
///
/// `loom2.<seed>.<epoch>.<position>.<rank>.<world>.<fingerprint>`, where position counts the
/// samples this rank has already received in the epoch, and the fingerprint (8 hex digits)
/// names the stream's sample order: the selection's samples and the sampler settings that are
/// not in the token (see ``SampleTable/orderFingerprint(_:)``). Starting from a token yields
/// exactly the samples (and the same crops: augmentation is keyed by sample, not by position)
/// an uninterrupted run would have; ``check(table:config:)`` refuses a token cut from another
/// selection. Tokens written before fingerprints, `loom1.<seed>.<epoch>.<position>.<rank>.<world>`,
/// are still read (with nothing to check them against).
public struct ResumeToken: Sendable, Hashable, CustomStringConvertible {
    public var seed: UInt64
    public var epoch: Int
    public var position: Int
    public var rank: Int
    public var world: Int
    /// The order fingerprint; nil for a `loom1` token.
    public var fingerprint: String?

    static let fingerprintLength = 8

    public init(seed: UInt64, epoch: Int, position: Int, rank: Int, world: Int, fingerprint: String? = nil) {
        self.seed = seed
        self.epoch = epoch
        self.position = position
        self.rank = rank
        self.world = world
        self.fingerprint = fingerprint
    }

    public init(parsing text: String) throws {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        let fingerprint: String?
        switch (parts.first, parts.count) {
        case ("loom1", 6): fingerprint = nil
        case ("loom2", 7) where Self.isFingerprint(parts[6]): fingerprint = parts[6]
        default: throw Self.malformed(text)
        }
        guard let seed = UInt64(parts[1]), let epoch = Int(parts[2]), let position = Int(parts[3]),
              let rank = Int(parts[4]), let world = Int(parts[5]),
              epoch >= 0, position >= 0, world >= 1, rank >= 0, rank < world else {
            throw Self.malformed(text)
        }
        self.init(seed: seed, epoch: epoch, position: position, rank: rank, world: world, fingerprint: fingerprint)
    }

    public var description: String {
        let base = "\(seed).\(epoch).\(position).\(rank).\(world)"
        return fingerprint.map { "loom2.\(base).\($0)" } ?? "loom1.\(base)"
    }

    /// Throws unless this token was cut from a stream over `table` with `config`'s remainder
    /// and epoch length (seed, epoch, rank and world are the token's own). A `loom1` token has
    /// no fingerprint and passes.
    public func check(table: SampleTable, config: SamplerConfig) throws {
        guard let fingerprint else { return }
        let expected = table.orderFingerprint(config)
        guard fingerprint == expected else {
            throw LoaderError("""
                resume token \(self) was cut from another selection (its fingerprint \(fingerprint) is not this \
                stream's \(expected): other images, or another --remainder or --epoch-length)
                """)
        }
    }

    private static func isFingerprint(_ text: String) -> Bool {
        text.utf8.count == fingerprintLength && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    private static func malformed(_ text: String) -> LoaderError {
        LoaderError("\"\(text)\" is not a resume token (expected loom2.SEED.EPOCH.POSITION.RANK.WORLD.FINGERPRINT, or loom1.SEED.EPOCH.POSITION.RANK.WORLD)")
    }
}

extension SampleTable {
    /// A short digest of what fixes the epoch order besides (seed, epoch, rank, world): each
    /// component's samples (blob digest and label, in table order) and weight, the remainder
    /// rule (when there are several ranks) and the epoch length (of a mixture). 8 hex digits of SHA-256: enough to catch a token from the wrong
    /// stream, short enough for a 64-byte cursor field.
    ///
    /// - Complexity: O(n) hashing, about 36 bytes a sample (tens of milliseconds for ImageNet).
    public func orderFingerprint(_ config: SamplerConfig) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count * 36 + components.count * 12 + 16)
        func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
        for (range, weight) in components {
            for index in range {
                withUnsafeBytes(of: locations[index].digest.bytes) { bytes.append(contentsOf: $0) }
                append(labels[index])
            }
            append(weight.bitPattern)
            append(UInt32.max)  // component boundary
        }
        // Each setting only where the order depends on it, so an ignored flag never fails a resume.
        bytes.append(config.world == 1 ? 0 : config.remainder == .pad ? 1 : 2)
        append(Int64(components.count > 1 ? config.epochLength ?? -1 : -1))
        return String(Digest.sha256(bytes).hex.prefix(ResumeToken.fingerprintLength))
    }
}
