import Foundation
import LoomStore

/// What `loom serve` was asked to do.
public struct ServerConfiguration: Sendable {
    public var store: StoreLayout
    /// Loopback by default: a store is private until its owner decides otherwise.
    public var host: String
    /// 0 picks a free port (the listening line says which).
    public var port: Int
    /// The bearer token every write must carry; nil turns writes off.
    public var token: String?
    /// Largest request body a write accepts (uploads, caption files); larger ones get 413.
    public var maxUploadBytes: Int
    /// Decoding threads per batch stream.
    public var loaderWorkers: Int
    /// Where experiment reports live (`reports/<run name>/report.json|svg`), for the gallery.
    public var reportsDirectory: String
    /// The longest a `/v1/sql` statement may run (408 past it).
    public var sqlTimeout: Duration = ReadOnlyQuery.defaultTimeout
    /// How many `/v1/sql` statements run at once, each on a connection of its own (503 past it).
    public var sqlConcurrency = 2

    public init(store: StoreLayout, host: String = "127.0.0.1", port: Int = 8080, token: String? = nil,
                maxUploadBytes: Int = 256 << 20, loaderWorkers: Int = ProcessInfo.processInfo.activeProcessorCount,
                reportsDirectory: String = "reports") {
        self.store = store
        self.host = host
        self.port = port
        self.token = token
        self.maxUploadBytes = maxUploadBytes
        self.loaderWorkers = max(1, loaderWorkers)
        self.reportsDirectory = reportsDirectory
    }
}
