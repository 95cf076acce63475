import Foundation
import Logging
import LoomStore
import Synchronization

/// swift-log to stderr, one line per event: JSON lines for machines (`--log-format json`,
/// the default off a terminal) or `time level message key=value` for people.
public struct LoomLogHandler: LogHandler {
    public enum Format: String, Sendable, CaseIterable { case json, text }

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    let label: String
    let format: Format
    private static let lock = Mutex<Void>(())

    public init(label: String, format: Format) {
        self.label = label
        self.format = format
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        let time = Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true))
        var line: String
        switch format {
        case .json:
            var object: [String: String] = [:]
            for (key, value) in merged { object[key] = "\(value)" }
            object["time"] = time
            object["level"] = event.level.rawValue
            object["message"] = "\(event.message)"
            object["logger"] = label
            line = (try? CanonicalJSON.text(object)) ?? "\(object)"
        case .text:
            line = "\(time) \(event.level.rawValue) \(event.message)"
            for key in merged.keys.sorted() { line += " \(key)=\(merged[key]!)" }
        }
        line += "\n"
        Self.lock.withLock { _ in FileHandle.standardError.write(Data(line.utf8)) }
    }
}
