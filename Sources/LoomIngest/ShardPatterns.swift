import Foundation
import Glibc
import LoomStore

/// The shard lists WebDataset users write: brace ranges (`shard-{000000..000099}.tar`, the zero
/// padding kept), brace lists (`{train,val}-0.tar`) and shell globs (`shards/*.tar`).
enum ShardPatterns {
    /// The files `patterns` name, in the order given (each glob's matches sorted), each once.
    /// - Throws: `not-found` naming a pattern that matches no file.
    static func expand(_ patterns: [String]) throws -> [String] {
        var seen: Set<String> = [], files: [String] = []
        for pattern in patterns {
            var matched = false
            for candidate in braces(pattern) {
                for file in try glob(candidate) where seen.insert(file).inserted {
                    files.append(file)
                    matched = true
                }
            }
            if !matched { throw IngestError(.notFound, "no tar shard matches this pattern", path: pattern) }
        }
        return files
    }

    /// Every expansion of the first brace group, recursively; a pattern without one is itself.
    static func braces(_ pattern: String) -> [String] {
        guard let open = pattern.firstIndex(of: "{"), let close = pattern[open...].firstIndex(of: "}") else { return [pattern] }
        let head = String(pattern[..<open]), tail = String(pattern[pattern.index(after: close)...])
        let body = String(pattern[pattern.index(after: open)..<close])
        var choices: [String]
        let range = body.components(separatedBy: "..")
        if range.count == 2, let low = Int(range[0]), let high = Int(range[1]), low <= high, high - low < 1_000_000 {
            let width = range[0].count
            // Padded to the low bound's width: {000000..000099} writes six digits.
            choices = (low...high).map { value in
                let digits = String(value)
                return String(repeating: "0", count: max(0, width - digits.count)) + digits
            }
        } else {
            choices = body.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        }
        return choices.flatMap { braces(head + $0 + tail) }
    }

    /// glob(3); a pattern with no wildcard is returned as it is when the file exists.
    private static func glob(_ pattern: String) throws -> [String] {
        var result = glob_t()
        defer { globfree(&result) }
        let status = Glibc.glob(pattern, 0, nil, &result)
        if status == GLOB_NOMATCH { return [] }
        guard status == 0 else { throw IngestError(.invalidInput, "cannot expand this pattern (glob error \(status))", path: pattern) }
        return (0..<Int(result.gl_pathc)).compactMap { result.gl_pathv[$0].map { String(cString: $0) } }.sorted()
    }
}
