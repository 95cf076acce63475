import ArgumentParser
import LoomStore

/// Options every store command shares.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: "Store directory (default: $LOOM_STORE, else ./loom-store).")
    var store: String?

    @Flag(name: .long, help: "Print JSON to stdout instead of text.")
    var json = false

    var layout: StoreLayout { StoreLayout.resolve(store) }

    func openReadOnly() throws -> Store { try Store(layout, access: .readOnly) }

    /// Opens the store for a command that writes. A missing shard file does not stop it (what
    /// the shard held is lost either way, and new bytes go to another shard), but it is said
    /// on stderr every time, with what to run.
    func openReadWrite() throws -> Store {
        let store = try Store(layout, access: .readWrite)
        Self.warnAboutMissingShards(store)
        return store
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
