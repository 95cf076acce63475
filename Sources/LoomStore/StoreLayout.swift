import Foundation

/// Where a store keeps its files.
///
/// ```
/// STORE/
///   catalog.sqlite       WAL mode; the only source of truth for what exists
///   shards/000001.loom   append-only while open, immutable once sealed
///   tmp/                 partial writes; emptied when a writer opens the store
///   cache/sample-tables/ loaders' saved sample tables, each valid at one catalog token (rebuilt when stale)
///   writer.lock          flock'ed by the one process allowed to write
/// ```
public struct StoreLayout: Sendable {
    public let root: String

    public init(root: String) {
        self.root = (root as NSString).standardizingPath
    }

    /// `--store PATH`, else `$LOOM_STORE`, else `./loom-store`.
    public static func resolve(_ explicit: String?) -> StoreLayout {
        if let explicit, !explicit.isEmpty { return StoreLayout(root: explicit) }
        if let env = ProcessInfo.processInfo.environment["LOOM_STORE"], !env.isEmpty { return StoreLayout(root: env) }
        return StoreLayout(root: "loom-store")
    }

    public var catalogPath: String { root + "/catalog.sqlite" }
    public var shardsDirectory: String { root + "/shards" }
    public var tmpDirectory: String { root + "/tmp" }
    public var lockPath: String { root + "/writer.lock" }
    public var sampleTablesDirectory: String { root + "/cache/sample-tables" }

    public static func shardName(_ id: Int64) -> String {
        let digits = String(id)
        return String(repeating: "0", count: max(0, 6 - digits.count)) + digits + ".loom"
    }

    public func shardPath(_ id: Int64) -> String { shardsDirectory + "/" + Self.shardName(id) }
}
