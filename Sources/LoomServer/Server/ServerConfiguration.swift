import Foundation
import LoomLoader
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
    /// Memory one batch stream may hold (its loader's ring and its encoded frames); a request
    /// needing more gets 400.
    public var streamMemory: StreamBudget
    /// Batch streams served at once; past it a request gets 503 with Retry-After.
    public var maxStreams: Int
    /// Host names accepted besides the bound address (and, on loopback, localhost); `*` accepts
    /// any. Others get 421: a web page cannot reach the server through a rebound DNS name.
    public var allowedHosts: [String]

    /// Two streams per core: more would only share the same decoding threads.
    public static var defaultMaxStreams: Int { 2 * max(1, ProcessInfo.processInfo.activeProcessorCount) }

    /// The shortest write token accepted: a guessable token is no protection.
    public static let minimumTokenLength = 16
    /// The longest a `/v1/sql` statement may run (408 past it).
    public var sqlTimeout: Duration = ReadOnlyQuery.defaultTimeout
    /// How many `/v1/sql` statements run at once, each on a connection of its own (503 past it).
    public var sqlConcurrency = 2
    /// Opens the store; nil opens the embedded store at ``store``. `loom serve` passes its
    /// `--catalog`/`--blobs` resolution here, so the server runs on a fleet store too.
    public var openStore: (@Sendable (Store.Access) throws -> Store)? = nil

    public init(store: StoreLayout, host: String = "127.0.0.1", port: Int = 8080, token: String? = nil,
                maxUploadBytes: Int = 256 << 20, loaderWorkers: Int = ProcessInfo.processInfo.activeProcessorCount,
                reportsDirectory: String = "reports", streamMemory: StreamBudget = StreamBudget(),
                maxStreams: Int = ServerConfiguration.defaultMaxStreams, allowedHosts: [String] = []) {
        self.store = store
        self.host = host
        self.port = port
        self.token = token
        self.maxUploadBytes = maxUploadBytes
        self.loaderWorkers = max(1, loaderWorkers)
        self.reportsDirectory = reportsDirectory
        self.streamMemory = streamMemory
        self.maxStreams = max(1, maxStreams)
        self.allowedHosts = allowedHosts
    }
}
