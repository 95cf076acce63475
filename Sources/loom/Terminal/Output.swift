import Foundation
import LoomStore

/// Where command output goes: JSON and data to stdout, people-facing text to stderr.
enum Output {
    static func json(_ value: some Encodable) throws {
        var data = try CanonicalJSON.data(value)
        data.append(0x0A)
        FileHandle.standardOutput.write(data)
    }

    /// One compact JSON document per line (JSON lines).
    static func jsonLine(_ value: some Encodable, encoder: JSONEncoder) throws {
        var data = try encoder.encode(value)
        data.append(0x0A)
        FileHandle.standardOutput.write(data)
    }

    static func lineEncoder() -> JSONEncoder { CanonicalJSON.encoder() }

    static func stdout(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    /// Raw text to stdout, no newline added (for large listings built in one piece).
    static func write(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    static func stderr(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    /// `text` for one field of a line of text output: backslash, tab, newline, carriage return
    /// and other control characters written as `\\`, `\t`, `\n`, `\r`, `\xHH` (as `ls -b` and
    /// git quote names), so a name can never split a line or a column. JSON output stays exact.
    static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0 == "\\" || $0.value < 0x20 || $0.value == 0x7F }) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\t": out += "\\t"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F: out += String(format: "\\x%02x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static func bytes(_ count: Int) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var value = Double(count), unit = 0
        while value >= 1000 && unit < units.count - 1 { value /= 1000; unit += 1 }
        return unit == 0 ? "\(count) B" : String(format: "%.1f %@", value, units[unit])
    }
}
