import Foundation
import Glibc
import LoomObjectStore
import LoomStore

/// Which engines a store runs on, as `--catalog`, `--blobs` and `--cache-size` (or
/// `LOOM_CATALOG`, `LOOM_BLOBS`, `LOOM_CACHE_SIZE`, or what `loom init` recorded in the store
/// directory's `store.json`) say. Neither catalog nor blobs: the embedded store, as always.
/// Both: a fleet store. One alone is refused: a PostgreSQL catalog pointing into one machine's
/// shard files, or S3 shards behind a one-machine catalog, would give neither guarantee.
public struct FleetConfiguration: Codable, Sendable, Equatable {
    public var catalog: String?
    public var blobs: String?
    /// As given (`50GiB`); parsed by the caller, which knows the byte-count syntax.
    public var cacheSize: String?

    enum CodingKeys: String, CodingKey {
        case catalog, blobs
        case cacheSize = "cache_size"
    }

    /// The file `loom init` writes in the store directory.
    public static let fileName = "store.json"

    public init(catalog: String? = nil, blobs: String? = nil, cacheSize: String? = nil) {
        self.catalog = catalog
        self.blobs = blobs
        self.cacheSize = cacheSize
    }

    public var isFleet: Bool { catalog != nil || blobs != nil }

    /// Flags over environment variables over the recorded file, one setting at a time.
    public static func resolve(catalog: String?, blobs: String?, cacheSize: String?, layout: StoreLayout,
                               environment: [String: String] = ProcessInfo.processInfo.environment) throws -> FleetConfiguration {
        func given(_ flag: String?, _ variable: String) -> String? {
            if let flag, !flag.isEmpty { return flag }
            if let value = environment[variable], !value.isEmpty { return value }
            return nil
        }
        let recorded = try Self.recorded(in: layout) ?? FleetConfiguration()
        return FleetConfiguration(catalog: given(catalog, "LOOM_CATALOG") ?? recorded.catalog,
                                  blobs: given(blobs, "LOOM_BLOBS") ?? recorded.blobs,
                                  cacheSize: given(cacheSize, "LOOM_CACHE_SIZE") ?? recorded.cacheSize)
    }

    /// What `loom init` recorded, or nil when the store directory has no `store.json`.
    public static func recorded(in layout: StoreLayout) throws -> FleetConfiguration? {
        let path = layout.root + "/" + fileName
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        do {
            return try JSONDecoder().decode(FleetConfiguration.self, from: data)
        } catch {
            throw StoreError(.invalidArgument, "cannot read the recorded store configuration: \(error)", path: path)
        }
    }

    /// Writes `store.json` (mode 0600: a catalog URL may carry a password), atomically.
    public func record(in layout: StoreLayout) throws {
        try validate()
        let path = layout.root + "/" + Self.fileName
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            try FileManager.default.createDirectory(atPath: layout.root, withIntermediateDirectories: true)
            let partial = path + ".partial"
            guard FileManager.default.createFile(atPath: partial, contents: try encoder.encode(self) + [0x0a],
                                                 attributes: [.posixPermissions: 0o600]) else {
                throw StoreError(.io, "cannot write the store configuration", path: partial)
            }
            guard rename(partial, path) == 0 else {
                throw StoreError(.io, "cannot rename \(partial) into place: \(String(cString: strerror(errno)))", path: path)
            }
        } catch {
            throw StoreError(.io, "cannot record the store configuration: \(error.localizedDescription)", path: path)
        }
    }

    /// Both engines named, each URL well formed.
    public func validate() throws {
        switch (catalog, blobs) {
        case (nil, nil): return
        case (nil, _):
            throw StoreError(.invalidArgument, "--blobs needs --catalog (or LOOM_CATALOG): a fleet store has a PostgreSQL catalog and S3 shards together")
        case (_, nil):
            throw StoreError(.invalidArgument, "--catalog needs --blobs (or LOOM_BLOBS): a fleet store has a PostgreSQL catalog and S3 shards together")
        case (let catalog?, let blobs?):
            _ = try PostgresCatalogURL(parsing: catalog)
            _ = try S3Location(parsing: blobs, parameter: "--blobs")
        }
    }
}
