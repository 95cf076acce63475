import Foundation

/// Sorted-key JSON, the one encoder setup Loom writes JSON with: run configs are compared in this
/// form (equal text, equal runs), summaries are stored in it, and the CLI and the HTTP API print
/// it. Slashes stay unescaped (paths read as paths); non-finite numbers (a diverged loss) are
/// written as the strings "inf", "-inf" and "nan", not refused.
public enum CanonicalJSON {
    public static func encoder(pretty: Bool = false) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return encoder
    }

    public static func data(_ value: some Encodable, pretty: Bool = false) throws -> Data {
        try encoder(pretty: pretty).encode(value)
    }

    public static func text(_ value: some Encodable, pretty: Bool = false) throws -> String {
        String(decoding: try data(value, pretty: pretty), as: UTF8.self)
    }
}
