// libFuzzer target `shard`: a shard file's header, records (LZ4 payloads included) and index
// trailer, walked the way `loom verify` and the writer's sealing walk do.
//
// The first input byte is a mode: when its low bit is set the harness rewrites every CRC-32
// before parsing, so mutations reach the code behind the checksums (a CRC is no defence against
// a crafted file, only against damage). The rest of the input is the shard file.

@_cdecl("LLVMFuzzerTestOneInput")
public func shardFuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    var file = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    let fixChecksums = data[0] & 1 == 1
    walkShard(&file, fixChecksums: fixChecksums)
    return 0
}

/// Largest decompressed payload the harness allocates for (the real reader takes the size from
/// the catalog; here it comes from the fuzzed header).
private let maxRawSize = 1 << 20

func walkShard(_ file: inout [UInt8], fixChecksums: Bool) {
    if fixChecksums, file.count >= ShardFormat.fileHeaderSize { patchCRC(&file, over: 0..<28, at: 28) }
    _ = ShardFormat.decodeFileHeader(Array(file.prefix(ShardFormat.fileHeaderSize)))

    // The records, as `Recovery.seal` walks them: header after header, `recordSize` apart.
    var offset = ShardFormat.fileHeaderSize
    while offset <= file.count - ShardFormat.recordHeaderSize {
        if fixChecksums { patchRecordCRCs(&file, at: offset) }
        let decoded = file.withUnsafeBytes {
            ShardFormat.decodeRecordHeader(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + ShardFormat.recordHeaderSize)]))
        }
        guard case .success(let header) = decoded else { break }
        let recordSize = header.recordSize
        precondition(recordSize >= ShardFormat.recordHeaderSize, "record size \(recordSize) below the header size")
        if recordSize <= file.count - offset {
            file.withUnsafeBytes { bytes in
                let record = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + recordSize)])
                let payload = UnsafeRawBufferPointer(rebasing: record[ShardFormat.recordHeaderSize...])
                guard CRC32.checksum(payload) == header.payloadCRC else { return }
                guard header.codec == .lz4, header.rawSize <= maxRawSize else { return }
                var raw = [UInt8](repeating: 0, count: header.rawSize)
                _ = raw.withUnsafeMutableBytes { BlobCodec.decompressFrame(payload, into: $0) }
            }
        }
        guard recordSize <= file.count - offset else { break }
        offset += recordSize
    }

    // The trailer, then the consistency arithmetic `Verifier.checkShard` does with its fields.
    guard file.count >= ShardFormat.trailerSize else { return }
    let trailerStart = file.count - ShardFormat.trailerSize
    if fixChecksums {
        patchCRC(&file, over: trailerStart..<(trailerStart + 28), at: trailerStart + 28)
    }
    guard case .success(let trailer) = ShardFormat.decodeTrailer(Array(file[trailerStart...])) else { return }
    let indexBytes = trailer.count * ShardFormat.indexEntrySize
    let end = trailer.indexOffset + indexBytes + ShardFormat.trailerSize
    if end == file.count, trailer.indexOffset >= 0 {
        _ = file.withUnsafeBytes { CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[trailer.indexOffset..<(trailer.indexOffset + indexBytes)])) }
    }
}

private func patchCRC(_ file: inout [UInt8], over range: Range<Int>, at position: Int) {
    let crc = file.withUnsafeBytes { CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[range])) }
    withUnsafeBytes(of: crc.littleEndian) { file.replaceSubrange(position..<(position + 4), with: $0) }
}

/// Rewrites the payload CRC (when the payload the header claims is inside the file) and the
/// header CRC of the record at `offset`.
private func patchRecordCRCs(_ file: inout [UInt8], at offset: Int) {
    let stored = file.readLE(UInt64.self, at: offset + 8)
    let payloadStart = offset + ShardFormat.recordHeaderSize
    if stored <= UInt64(file.count - payloadStart) {
        patchCRC(&file, over: payloadStart..<(payloadStart + Int(stored)), at: offset + 56)
    }
    patchCRC(&file, over: offset..<(offset + 60), at: offset + 60)
}
