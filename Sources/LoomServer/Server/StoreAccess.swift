import Foundation
import LoomStore

/// The store as the server holds it: one read-only `Store` for every read, and the writer
/// lock taken only for the length of one write request.
///
/// Holding the lock only per write lets `loom ingest`, `loom caption` and the trainer write to
/// the same store while the server runs; a write request that finds another process writing
/// gets a 409 naming it instead of waiting. Writes inside this server run one at a time
/// (``WriteGate``), so two uploads never race for the lock.
final class StoreAccess: Sendable {
    let layout: StoreLayout
    let reader: Store
    let gate = WriteGate()
    private let open: @Sendable (Store.Access) throws -> Store
    /// A fleet store's writable handle, opened once: fleet writers take no lock, so there is
    /// nothing to hold only per request.
    private let fleetWriter: Store?

    /// Opens the store read-only. A missing store is created only when writes are enabled (a
    /// server started to receive uploads may start empty); otherwise it is an error at start.
    init(layout: StoreLayout, createIfMissing: Bool, open opener: (@Sendable (Store.Access) throws -> Store)? = nil) throws {
        self.layout = layout
        let open = opener ?? { access in try Store(layout, access: access) }
        self.open = open
        var writable: Store? = nil
        if createIfMissing && (opener != nil || !FileManager.default.fileExists(atPath: layout.catalogPath)) {
            writable = try open(.readWrite)  // creates an embedded store, or migrates a fleet catalog
        }
        reader = try open(.readOnly)
        fleetWriter = reader.fleet != nil ? writable : nil
    }

    /// Runs `body` with a read-write store whose writer lock is free, one write at a time.
    func write<T: Sendable>(_ body: @escaping @Sendable (Store) throws -> T) async throws -> T {
        try await gate.run {
            try await Offload.run {
                let store = try self.fleetWriter ?? self.open(.readWrite)
                return try body(store)
            }
        }
    }

    /// Runs a read on a blocking-work thread.
    func read<T: Sendable>(_ body: @escaping @Sendable (Store) throws -> T) async throws -> T {
        let reader = self.reader
        return try await Offload.run { try body(reader) }
    }
}

/// Serialises this server's writes (first come, first served).
actor WriteGate {
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        if busy {
            await withCheckedContinuation { waiting.append($0) }
        }
        busy = true
        defer {
            if waiting.isEmpty { busy = false } else { waiting.removeFirst().resume() }
        }
        return try await body()
    }
}
