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
    func openReadWrite() throws -> Store { try Store(layout, access: .readWrite) }
}
