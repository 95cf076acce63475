// libFuzzer target `query`: a request target (path and query) through Hummingbird's URI
// parser, Loom's path guard and its strict query decoding, with every typed accessor an
// endpoint uses (GET /v1/batches takes the most parameters).
//
// Input: a request target when it starts with "/", else the query of /v1/batches.

import Hummingbird

private let batchParameters: Set<String> = [
    "selection", "batch", "size", "augment", "seed", "epoch", "rank", "world", "cursor", "remainder", "drop_last", "epoch_length",
]

private enum Augment: String, CaseIterable { case train, eval }

@_cdecl("LLVMFuzzerTestOneInput")
public func queryFuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let uri = URI(text.hasPrefix("/") ? text : "/v1/batches?" + text)
    _ = try? PathGuard.checkRequestPath(uri.path)
    if let query = uri.query {
        for pair in query.split(separator: "&") { checkDecode(pair) }
    }
    guard let query = try? QueryParameters(Request(uri: uri), allowed: batchParameters) else { return 0 }
    for name in batchParameters {
        if let value = try? query.string(name) {
            precondition(!value.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }, "control character passed")
        }
        if let value = try? query.name(name) {
            precondition(!value.isEmpty && !PathGuard.isTraversal(value), "name \"\(value)\" passed the path guard")
        }
        if let value = try? query.int(name, in: 1...65_536) { precondition((1...65_536).contains(value)) }
        _ = try? query.uint64(name)
        _ = try? query.bool(name)
        _ = try? query.choice(name, Augment.self)
    }
    return 0
}

/// Decoding then percent-encoding every byte, then decoding again, gives the same text.
private func checkDecode(_ text: Substring) {
    guard let decoded = QueryParameters.decode(text) else { return }
    let encoded = decoded.utf8.map { byte -> String in
        let hex = String(byte, radix: 16, uppercase: true)
        return "%" + (hex.count == 1 ? "0" + hex : hex)
    }.joined()
    precondition(QueryParameters.decode(Substring(encoded)) == decoded, "percent-decoding is not stable for \(text)")
}
