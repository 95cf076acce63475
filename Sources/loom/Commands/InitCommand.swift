import ArgumentParser
import LoomFleet
import LoomStore

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a store; with --catalog and --blobs, record a fleet store's engines in the store directory.",
        discussion: """
            Without --catalog/--blobs: creates the embedded store (SQLite catalog + shard files) in --store. \
            With them: connects to PostgreSQL (creating or migrating the catalog's tables), checks the S3 bucket \
            answers, and writes STORE/store.json (mode 0600), so later commands need only --store. Flags and \
            LOOM_CATALOG / LOOM_BLOBS / LOOM_CACHE_SIZE still override what is recorded. The directory is then \
            this machine's working folder: shard cache, partial writes, the configuration; deleting it loses nothing.
            """)

    @OptionGroup var options: StoreOptions

    struct Report: Encodable {
        var store: String
        var kind: String
        var catalog: String?
        var blobs: String?
        var cacheSize: String?
        var schemaVersion: Int

        enum CodingKeys: String, CodingKey {
            case store, kind, catalog, blobs
            case cacheSize = "cache_size"
            case schemaVersion = "schema_version"
        }
    }

    func run() throws {
        let layout = options.layout
        guard let fleet = try options.fleetConfiguration() else {
            let store = try Store(layout, access: .readWrite)
            return try report(Report(store: layout.root, kind: "embedded", schemaVersion: try store.read { try $0.info.schemaVersion() }))
        }
        _ = try StoreOptions.cacheBytes(fleet)
        let store = try FleetStore.open(layout, configuration: fleet, cacheBytes: StoreOptions.cacheBytes(fleet), access: .readWrite)
        try FleetStore.checkBlobs(store)
        try fleet.record(in: layout)
        try report(Report(store: layout.root, kind: "fleet", catalog: store.fleet.map { "\($0.catalog.url)" },
                          blobs: fleet.blobs, cacheSize: fleet.cacheSize, schemaVersion: try store.read { try $0.info.schemaVersion() }))
    }

    private func report(_ report: Report) throws {
        if options.json { return try Output.json(report) }
        Output.stdout("\(report.kind) store \(report.store) (catalog schema \(report.schemaVersion))")
        if let catalog = report.catalog, let blobs = report.blobs {
            Output.stdout("  catalog \(catalog)\n  blobs   \(blobs)\n  recorded in \(report.store)/\(FleetConfiguration.fileName)")
        }
    }
}
