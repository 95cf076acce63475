import Synchronization

/// Random-access reads of blobs by location: one `pread` per record, or for
/// ``withRecord(_:buffer:_:)`` a read in place from a mapping of the shard, checked on the way out.
///
/// Every read checks the record header (magic, checksum, digest, sizes) and the payload CRC-32;
/// `verifyDigest` also recomputes SHA-256 (what `cat`, `export` and `verify` ask for). Shard
/// descriptors are opened once and shared: `pread` carries its own offset, so any number of
/// threads read through one descriptor.
public final class BlobReader: Sendable {
    /// Where the shard bytes are: files in the store directory, or objects behind the fleet cache.
    enum Source: Sendable {
        case files
        case remote(any RemoteShards)
    }

    let layout: StoreLayout
    let source: Source
    let reader: any CatalogReader
    private let files = Mutex<[Int64: SystemFile]>([:])
    private let maps = Mutex<[Int64: ShardMap]>([:])

    init(layout: StoreLayout, source: Source, reader: any CatalogReader) {
        self.layout = layout
        self.source = source
        self.reader = reader
    }

    /// The location of the blob with `digest`, or nil when the catalog has none.
    public func location(of digest: Digest) throws -> BlobLocation? {
        try reader.read { try $0.blobs.blob(digest)?.location }
    }

    /// The original bytes of `digest`.
    /// - Throws: `StoreError.notFound` when no blob has that digest, `.corrupt` when its record is damaged.
    public func read(digest: Digest, verifyDigest: Bool = true) throws -> [UInt8] {
        for attempt in 0..<2 {
            guard let location = try location(of: digest) else {
                throw StoreError(.notFound, "no blob \(digest.hex)")
            }
            do {
                return try read(location, verifyDigest: verifyDigest)
            } catch let error as StoreError where error.code == .notFound && attempt == 0 {
                // `loom gc` may have moved the record and removed the shard between the lookup
                // and the read: look the location up once more.
                forget(shardID: location.shardID)
            }
        }
        throw StoreError(.notFound, "blob \(digest.hex) moved twice while being read")
    }

    /// The original bytes of the record at `location`.
    public func read(_ location: BlobLocation, verifyDigest: Bool = true) throws -> [UInt8] {
        var buffer: [UInt8] = []
        let range = try read(location, into: &buffer, verifyDigest: verifyDigest)
        if range.lowerBound == 0 && range.count == buffer.count { return buffer }
        return Array(buffer[range])
    }

    /// Reads the record at `location` into `buffer` (grown as needed, reused across calls so a
    /// hot loop does not allocate) and returns the range of `buffer` that holds the original bytes.
    public func read(_ location: BlobLocation, into buffer: inout [UInt8], verifyDigest: Bool = false) throws -> Range<Int> {
        let recordSize = location.recordSize
        let rawStart = location.codec == .raw ? ShardFormat.recordHeaderSize : recordSize
        let needed = location.codec == .raw ? recordSize : recordSize + location.rawSize
        if buffer.count < needed { buffer = [UInt8](repeating: 0, count: needed) }
        let remote = try remoteRecord(location)
        let file = remote == nil ? try shardFile(location.shardID) : nil
        try buffer.withUnsafeMutableBytes { bytes in
            let record = UnsafeMutableRawBufferPointer(rebasing: bytes[0..<recordSize])
            if let remote {
                guard remote.count == recordSize else { throw corrupt(location, "the shard object ends inside the record") }
                remote.withUnsafeBytes { record.copyMemory(from: $0) }
            } else {
                try file!.read(into: record, at: location.offset)
            }
            let original = try payload(of: UnsafeRawBufferPointer(record), location,
                                       decompressingInto: UnsafeMutableRawBufferPointer(rebasing: bytes[rawStart..<needed]))
            if verifyDigest {
                let actual = Digest.sha256(original)
                if actual != location.digest {
                    throw corrupt(location, "content hashes to \(actual.hex), not its digest")
                }
            }
        }
        return rawStart..<(rawStart + location.rawSize)
    }

    /// Runs `body` on the original bytes of the record at `location`, checked as
    /// ``read(_:into:verifyDigest:)`` checks them (header and payload CRC-32; no SHA-256).
    ///
    /// On an embedded store the record is read from a mapping of its shard (``ShardMap``): a raw
    /// record is handed to `body` where it lies in the page cache, an LZ4 one is decompressed from
    /// there into `buffer`. A `perf` profile of a raw pixel-cache train epoch put a quarter of the
    /// CPU in the kernel's copy out of the page cache for `pread`. Records the mapping cannot
    /// reach, and every record of a fleet store, go through ``read(_:into:verifyDigest:)``.
    public func withRecord<R>(_ location: BlobLocation, buffer: inout [UInt8], _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let start = location.offset
        guard case .files = source, let map = try shardMap(location.shardID, reaching: start + location.recordSize),
              let record = map.bytes(start..<(start + location.recordSize)) else {
            let range = try read(location, into: &buffer)
            return try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[range])) }
        }
        // `map` is held to the end of the scope: a concurrent `forget` may drop it from the
        // table, but the mapping lasts while this read uses it.
        return try withExtendedLifetime(map) {
            guard location.codec == .lz4 else {
                return try body(payload(of: record, location, decompressingInto: UnsafeMutableRawBufferPointer(start: nil, count: 0)))
            }
            if buffer.count < location.rawSize { buffer = [UInt8](repeating: 0, count: location.rawSize) }
            return try buffer.withUnsafeMutableBytes { try body(payload(of: record, location, decompressingInto: $0)) }
        }
    }

    /// The original bytes of a whole `record` (header and stored payload), checked against
    /// `location`: the stored payload itself when raw, or the LZ4 frame decompressed into the
    /// start of `raw` (which then holds at least `location.rawSize` bytes).
    private func payload(of record: UnsafeRawBufferPointer, _ location: BlobLocation,
                         decompressingInto raw: UnsafeMutableRawBufferPointer) throws -> UnsafeRawBufferPointer {
        if let problem = Self.check(record, expected: location) { throw corrupt(location, problem.description) }
        let stored = UnsafeRawBufferPointer(rebasing: record[ShardFormat.recordHeaderSize..<location.recordSize])
        guard location.codec == .lz4 else { return stored }
        let original = UnsafeMutableRawBufferPointer(rebasing: raw[0..<location.rawSize])
        if let problem = BlobCodec.decompressFrame(stored, into: original) { throw corrupt(location, problem.description) }
        return UnsafeRawBufferPointer(original)
    }

    /// Checks a whole record (header + payload) against what the catalog expects of it.
    static func check(_ record: UnsafeRawBufferPointer, expected: BlobLocation) -> ShardFormat.FormatProblem? {
        let header: ShardFormat.RecordHeader
        switch ShardFormat.decodeRecordHeader(record) {
        case .failure(let problem): return problem
        case .success(let decoded): header = decoded
        }
        guard header.digest == expected.digest else {
            return ShardFormat.FormatProblem("record holds blob \(header.digest.hex), the catalog expects \(expected.digest.hex)")
        }
        guard header.codec == expected.codec, header.storedSize == expected.storedSize, header.rawSize == expected.rawSize else {
            return ShardFormat.FormatProblem("record sizes or codec disagree with the catalog")
        }
        guard record.count >= header.recordSize else { return ShardFormat.FormatProblem("record cut short") }
        let payload = UnsafeRawBufferPointer(rebasing: record[ShardFormat.recordHeaderSize..<header.recordSize])
        guard CRC32.checksum(payload) == header.payloadCRC else {
            return ShardFormat.FormatProblem("payload checksum mismatch")
        }
        return nil
    }

    private func corrupt(_ location: BlobLocation, _ reason: String) -> StoreError {
        StoreError(.corrupt, "blob \(location.digest.hex) at offset \(location.offset): \(reason)", path: shardPath(location.shardID))
    }

    /// The shard's file, or on a fleet store its object.
    func shardPath(_ id: Int64) -> String {
        switch source {
        case .files: layout.shardPath(id)
        case .remote(let shards): shards.url(of: StoreLayout.shardName(id))
        }
    }

    /// On a fleet store, the record's bytes from its shard object (through the cache); nil on
    /// an embedded one.
    private func remoteRecord(_ location: BlobLocation) throws -> [UInt8]? {
        guard case .remote(let shards) = source else { return nil }
        let start = Int64(location.offset)
        return try shards.read(StoreLayout.shardName(location.shardID), range: start..<(start + Int64(location.recordSize)))
    }

    func shardFile(_ id: Int64) throws -> SystemFile {
        if let file = files.withLock({ $0[id] }) { return file }
        let file = try SystemFile(path: layout.shardPath(id), mode: .readOnly)
        return files.withLock { open in
            if let existing = open[id] { return existing }
            open[id] = file
            return file
        }
    }

    /// The mapping of shard `id`, made afresh when the one held ends before `end`; nil when the
    /// kernel will not map it.
    private func shardMap(_ id: Int64, reaching end: Int) throws -> ShardMap? {
        if let map = maps.withLock({ $0[id] }), map.length >= end { return map }
        guard let map = ShardMap(file: try shardFile(id)) else { return nil }
        return maps.withLock { held in
            if let existing = held[id], existing.length >= map.length { return existing }
            held[id] = map
            return map
        }
    }

    /// The shards read through a mapping so far (what the tests check the mapped path by).
    var mappedShards: Set<Int64> { maps.withLock { Set($0.keys) } }

    func forget(shardID: Int64) {
        _ = files.withLock { $0.removeValue(forKey: shardID) }
        _ = maps.withLock { $0.removeValue(forKey: shardID) }
    }
}
