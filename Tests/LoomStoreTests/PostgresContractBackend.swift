import LoomStore
import LoomTestSupport

// The PostgreSQL backend of the repository contract (CatalogContractTests.swift): a fresh
// database in this process's private cluster (PostgresServer) per catalog.

extension CatalogBackend {
    static let postgres = CatalogBackend(name: "postgresql") { try PostgresContractCatalog() }

    /// PostgreSQL joins the contract wherever its binaries are; the one reason it is left out is printed.
    static let postgresIfAvailable: [CatalogBackend] = {
        if let reason = PostgresServer.unavailableReason {
            print("note: the catalog contract runs without its PostgreSQL backend: \(reason)")
            return []
        }
        return [.postgres]
    }()
}

/// Blob rows only: the bytes are the blob store's (not under test here); rows point into one
/// shard row at increasing offsets, as a writer's would.
final class PostgresContractCatalog: ContractCatalog {
    let catalog: PostgresCatalog
    private let catalogWriter: PostgresCatalogWriter
    private var shardID: Int64?
    private var offset = 0

    init() throws {
        catalog = try PostgresCatalog(try PostgresServer.shared().makeDatabase(prefix: "loom_contract"))
        catalogWriter = catalog.makeWriter()
    }

    deinit { catalog.close() }

    var reader: any CatalogReader { catalog }
    var writer: any CatalogWriter { catalogWriter }

    func commitBlob(_ bytes: [UInt8], mediaType: String) throws -> Digest {
        let shard = try shardID ?? catalogWriter.createShard(name: "contract-shard", formatVersion: 1)
        shardID = shard
        let digest = Digest.sha256(bytes)
        let location = BlobLocation(digest: digest, shardID: shard, offset: offset, storedSize: bytes.count, rawSize: bytes.count, codec: .raw)
        offset += location.recordSize
        try catalogWriter.commit(blobs: [PostgresBlobRow(location: location, mediaType: mediaType)]) { _ in }
        return digest
    }
}
