import Foundation
import Glibc
import LoomStore

/// A sample table saved beside the store (`STORE/cache/sample-tables/`), so the next load of the
/// same selection maps it instead of reading a million catalog rows: start-up and memory stay
/// flat in dataset size, as MosaicML Streaming's and LitData's index files keep theirs.
///
/// A saved table is only ever used at the catalog token it was read at (``CatalogInfoReading/changeToken()``):
/// any write to the tables a sample table comes from changes the token, so a stale table is never
/// mapped. The file is written whole in `tmp/`, synced and renamed into place, so a crash leaves
/// the old file, the new one or none; a file whose header, key or size disagrees is rebuilt.
///
/// ```
/// header (96 bytes): "LOOMSTBL", version, sample and cache record sizes (UInt32 each),
///     catalog token (Int64), sample count, cache count, metadata length (UInt64 each),
///     8 reserved, SHA-256 of the key (32)
/// metadata: JSON {class_names, components: [{start, end, weight}]}, padded to 8 bytes
/// sample records, then cache records (see ``SampleRows``)
/// ```
///
/// At most ``kept`` tables stay saved, the most recently used: a client of `loom serve` choosing
/// ever new selections or sizes cannot fill the disk with them.
enum SampleTableFile {
    static let magic = Array("LOOMSTBL".utf8)
    static let version: UInt32 = 1
    static let headerSize = 96
    static let kept = 8

    struct Metadata: Codable {
        struct Component: Codable { var start: Int; var end: Int }
        var class_names: [String]
        var components: [Component]
    }

    /// What the table's rows depend on: each component with its class filter, and the pixel-cache
    /// side. Not the weights: they come from the selection each load (a mixture reweighted
    /// maps the same rows).
    static func key(_ selection: Selection, cacheShortSide: Int?) -> String {
        let parts = selection.components.map { c in "\(c.name)[\(c.classes?.joined(separator: ",") ?? "*")]" }
        return "v\(version)|" + parts.joined(separator: "+") + "|cache=\(cacheShortSide.map(String.init) ?? "none")"
    }

    static func path(_ layout: StoreLayout, key: String) -> String {
        layout.sampleTablesDirectory + "/" + Digest.sha256(Array(key.utf8)).hex.prefix(32) + ".samples"
    }

    /// The saved table of `selection` at `token`, mapped, with the selection's weights; nil when
    /// there is none or it is not current.
    static func open(_ layout: StoreLayout, selection: Selection, key: String, token: Int64) -> SampleTable? {
        let path = path(layout, key: key)
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return nil }
        let size = Int(info.st_size)
        var header = [UInt8](repeating: 0, count: headerSize)
        guard size >= headerSize, pread(fd, &header, headerSize, 0) == headerSize else { return nil }
        let fields = header.withUnsafeBytes { bytes in
            (magic: Array(bytes[0..<8]), version: bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self).littleEndian,
             sampleSize: bytes.loadUnaligned(fromByteOffset: 12, as: UInt32.self).littleEndian,
             cacheSize: bytes.loadUnaligned(fromByteOffset: 16, as: UInt32.self).littleEndian,
             token: bytes.loadUnaligned(fromByteOffset: 24, as: Int64.self).littleEndian,
             count: bytes.loadUnaligned(fromByteOffset: 32, as: UInt64.self).littleEndian,
             cacheCount: bytes.loadUnaligned(fromByteOffset: 40, as: UInt64.self).littleEndian,
             metaLength: bytes.loadUnaligned(fromByteOffset: 48, as: UInt64.self).littleEndian,
             keyDigest: Array(bytes[64..<96]))
        }
        guard fields.magic == magic, fields.version == version, fields.sampleSize == SampleRows.sampleSize,
              fields.cacheSize == SampleRows.cacheSize, fields.token == token,
              fields.keyDigest == Array(withUnsafeBytes(of: Digest.sha256(Array(key.utf8)).bytes) { Array($0) }),
              fields.count < UInt64(Int32.max), fields.cacheCount <= fields.count, fields.metaLength < UInt64(1 << 30)
        else { return nil }
        let metaLength = Int(fields.metaLength), count = Int(fields.count), cacheCount = Int(fields.cacheCount)
        let samplesOffset = headerSize + padded(metaLength)
        let cacheOffset = samplesOffset + count * SampleRows.sampleSize
        guard size == cacheOffset + cacheCount * SampleRows.cacheSize else { return nil }
        var metaBytes = [UInt8](repeating: 0, count: metaLength)
        guard pread(fd, &metaBytes, metaLength, off_t(headerSize)) == metaLength,
              let meta = try? JSONDecoder().decode(Metadata.self, from: Data(metaBytes)),
              meta.components.count == selection.components.count,
              meta.components.allSatisfy({ 0 <= $0.start && $0.start <= $0.end && $0.end <= count })
        else { return nil }
        // Marks the table used, for pruning (fails harmlessly on read-only media).
        futimens(fd, nil)
        guard let mapped = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), mapped != MAP_FAILED else { return nil }
        // Epochs visit samples in random order: read-ahead would only pull in pages no batch asks for.
        madvise(mapped, size, MADV_RANDOM)
        let base = UnsafeRawPointer(mapped)
        let address = UInt(bitPattern: mapped)
        let rows = SampleRows(
            samples: UnsafeRawBufferPointer(start: base + samplesOffset, count: count * SampleRows.sampleSize),
            cache: UnsafeRawBufferPointer(start: base + cacheOffset, count: cacheCount * SampleRows.cacheSize),
            isMapped: true) { munmap(UnsafeMutableRawPointer(bitPattern: address), size) }
        let components = zip(meta.components, selection.components).map { ($0.start..<$0.end, $1.weight) }
        return SampleTable(rows: rows, components: components, classNames: meta.class_names)
    }

    /// Saves `table` for `key` at `token`: written in `tmp/`, synced, renamed into place.
    static func save(_ table: SampleTable, layout: StoreLayout, key: String, token: Int64) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys  // the same table saves as the same bytes
        let meta = try encoder.encode(Metadata(
            class_names: table.classNames,
            components: table.components.map { .init(start: $0.range.lowerBound, end: $0.range.upperBound) }))
        var head = [UInt8](repeating: 0, count: headerSize)
        head.withUnsafeMutableBytes { bytes in
            magic.withUnsafeBytes { bytes.copyMemory(from: $0) }
            bytes.storeBytes(of: version.littleEndian, toByteOffset: 8, as: UInt32.self)
            bytes.storeBytes(of: UInt32(SampleRows.sampleSize).littleEndian, toByteOffset: 12, as: UInt32.self)
            bytes.storeBytes(of: UInt32(SampleRows.cacheSize).littleEndian, toByteOffset: 16, as: UInt32.self)
            bytes.storeBytes(of: token.littleEndian, toByteOffset: 24, as: Int64.self)
            bytes.storeBytes(of: UInt64(table.rows.count).littleEndian, toByteOffset: 32, as: UInt64.self)
            bytes.storeBytes(of: UInt64(table.rows.cacheCount).littleEndian, toByteOffset: 40, as: UInt64.self)
            bytes.storeBytes(of: UInt64(meta.count).littleEndian, toByteOffset: 48, as: UInt64.self)
            bytes.storeBytes(of: Digest.sha256(Array(key.utf8)).bytes, toByteOffset: 64, as: SIMD32<UInt8>.self)
        }
        head += meta
        head += [UInt8](repeating: 0, count: padded(meta.count) - meta.count)

        try FileManager.default.createDirectory(atPath: layout.sampleTablesDirectory, withIntermediateDirectories: true)
        let final = path(layout, key: key)
        let temporary = layout.tmpDirectory + "/sample-table-" + UUID().uuidString.lowercased()
        let file = try SystemFile(path: temporary, mode: .createReadWrite)
        do {
            try head.withUnsafeBytes { try file.write($0, at: 0) }
            try file.write(table.rows.samples, at: head.count)
            try file.write(table.rows.cache, at: head.count + table.rows.samples.count)
            try file.syncData()
            guard rename(temporary, final) == 0 else {
                throw StoreError(.io, "cannot move the saved sample table into place: \(String(cString: strerror(errno)))", path: final)
            }
        } catch {
            unlink(temporary)
            throw error
        }
        try SystemFile.syncDirectory(layout.sampleTablesDirectory)
        prune(layout.sampleTablesDirectory)
    }

    /// Removes all but the ``kept`` most recently used tables. Another process may still map one
    /// removed here: its mapping outlives the name.
    static func prune(_ directory: String) {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".samples") }
        guard names.count > kept else { return }
        let used = names.map { name -> (String, Int) in
            var info = stat()
            let path = directory + "/" + name
            return (path, stat(path, &info) == 0 ? Int(info.st_mtim.tv_sec) * 1_000_000_000 + Int(info.st_mtim.tv_nsec) : 0)
        }
        for (path, _) in used.sorted(by: { $0.1 > $1.1 }).dropFirst(kept) { unlink(path) }
    }

    private static func padded(_ length: Int) -> Int { (length + 7) & ~7 }
}
