// libFuzzer target `image`: format sniffing, the JPEG and PNG header readers and the full
// validation ingest runs on every file (sniff, header, decode limits, reduced decode).
//
// libjpeg-turbo and libspng are the system builds, not instrumented: coverage guides the
// fuzzer through Loom's side of the calls, and AddressSanitizer checks every buffer Loom hands
// them (sizes computed from headers, scratch reuse across calls).

/// One validator for the whole run, as an ingest thread keeps one: scratch reuse and the
/// decoder handle's reset after failures are part of what is tested. `nonisolated(unsafe)`:
/// libFuzzer calls the target from one thread only.
nonisolated(unsafe) private let validator = try! ImageValidator(limits: DecodeLimits(maxPixels: 1 << 22, maxSide: 8192))
nonisolated(unsafe) private let decoder = try! JPEGDecoder()

@_cdecl("LLVMFuzzerTestOneInput")
public func imageFuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    guard let format = try? ImageFormat.sniff(bytes) else { return 0 }
    let limits = validator.limits
    switch format {
    case .jpeg:
        if let header = try? decoder.readHeader(bytes) {
            precondition(header.width > 0 && header.height > 0, "JPEG header read gave \(header.width)x\(header.height)")
        }
    case .png:
        if let info = try? PNGCodec.readHeader(bytes, limits: limits) {
            precondition(info.format == .png)
        }
    }
    if let info = try? validator.validate(bytes) {
        precondition(info.width > 0 && info.height > 0 && info.pixelCount <= limits.maxPixels,
                     "validated \(info.width)x\(info.height) over the limits")
    }
    return 0
}
