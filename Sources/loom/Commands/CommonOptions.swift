import ArgumentParser
import LoomFleet
import LoomLoader
import LoomStore

/// Options every store command shares.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: "Store directory (default: $LOOM_STORE, else ./loom-store); a fleet store's working folder.")
    var store: String?

    @Option(name: .long, help: ArgumentHelp(
        "Fleet catalog: postgresql://user[:password]@host:port/db (default: $LOOM_CATALOG, else what `loom init` recorded).",
        discussion: "With --blobs, the store is a fleet store; without both, the embedded SQLite store in --store."))
    var catalog: String?

    @Option(name: .long, help: "Fleet shards: s3://bucket/prefix (default: $LOOM_BLOBS, else recorded); endpoint and keys from the AWS_* variables.")
    var blobs: String?

    @Option(name: .customLong("cache-size"),
            help: "A fleet store's local shard cache limit, e.g. 50GiB (default: $LOOM_CACHE_SIZE, else recorded, else half the free disk).")
    var cacheSize: String?

    @Flag(name: .long, help: "Print JSON to stdout instead of text.")
    var json = false

    var layout: StoreLayout { StoreLayout.resolve(store) }

    /// The fleet engines the flags, variables or `store.json` name; nil for the embedded store.
    func fleetConfiguration() throws -> FleetConfiguration? {
        let configuration = try FleetConfiguration.resolve(catalog: catalog, blobs: blobs, cacheSize: cacheSize, layout: layout)
        return configuration.isFleet ? configuration : nil
    }

    /// The cache limit in bytes, or nil for the default.
    static func cacheBytes(_ configuration: FleetConfiguration) throws -> Int64? {
        guard let text = configuration.cacheSize else { return nil }
        guard let bytes = StreamBudget.parseBytes(text), bytes > 0 else {
            throw ValidationError("--cache-size (or LOOM_CACHE_SIZE): \"\(text)\" is not a byte count above 0, like 50GiB or 800MB")
        }
        return Int64(bytes)
    }

    func open(_ access: Store.Access) throws -> Store { try Self.open(layout, fleet: fleetConfiguration(), access: access) }

    /// The fleet store `fleet` names, with `layout` as its working folder, or the embedded store there.
    static func open(_ layout: StoreLayout, fleet: FleetConfiguration?, access: Store.Access) throws -> Store {
        guard let fleet else { return try Store(layout, access: access) }
        return try FleetStore.open(layout, configuration: fleet, cacheBytes: cacheBytes(fleet), access: access)
    }

    func openReadOnly() throws -> Store { try open(.readOnly) }

    /// Opens the store for a command that writes. A missing shard file does not stop it (what
    /// the shard held is lost either way, and new bytes go to another shard), but it is said
    /// on stderr every time, with what to run.
    func openReadWrite() throws -> Store {
        let store = try open(.readWrite)
        if store.fleet == nil { Self.warnAboutMissingShards(store) }
        return store
    }

    /// Refuses a fleet store for a command that only runs on the embedded one, naming it.
    func requireEmbedded(_ command: String) throws {
        if try fleetConfiguration() != nil {
            throw StoreError(.invalidArgument, "`loom \(command)` runs on an embedded store only for now, not on a fleet store (--catalog/--blobs)")
        }
    }

    static func warnAboutMissingShards(_ store: Store) {
        guard let missing = try? store.missingShards(), !missing.isEmpty else { return }
        let names = missing.map { "\($0.name) (\($0.blobs) blobs, \(Output.bytes($0.storedBytes)))" }.joined(separator: ", ")
        Output.stderr("""
            warning: shard file\(missing.count == 1 ? "" : "s") missing: \(names); their blobs cannot be read. \
            `loom repair --dry-run` lists what is lost, `loom repair` drops it.
            """)
    }
}
