internal import GRDB

struct SQLiteBlobReader: BlobReading, SQLiteRepository {
    let db: Database

    func blob(_ digest: Digest) throws -> BlobRecord? {
        let select = try db.cachedStatement(sql: "SELECT id, \(BlobLocation.columns), media_type FROM blobs WHERE digest = ?")
        guard let row = try Row.fetchOne(select, arguments: [digest.databaseValue]) else { return nil }
        return BlobRecord(id: row["id"], location: try BlobLocation(row: row), mediaType: row["media_type"])
    }

    func resolve(_ text: String) throws -> Digest { try RealImageListing.resolveDigest(db, text) }
}
