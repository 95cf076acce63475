/// Where a ``ShardCache`` gets objects it does not hold.
public protocol ShardSource: Sendable {
    /// The object's length in bytes (it is reserved in the cache before the download starts).
    func size(of name: String) async throws -> Int64
    /// Writes the whole object to a new file at `path` (created or truncated); refuses one
    /// that is not `expectedSize` bytes.
    func download(_ name: String, to path: String, expectedSize: Int64) async throws
    /// The bytes of `range` of the object (fewer at its end).
    func read(_ name: String, range: Range<Int64>) async throws -> [UInt8]
}

/// Objects under an `s3://bucket/prefix`: the name is the key below the prefix.
public struct S3ShardSource: ShardSource {
    public let client: S3Client
    public let location: S3Location

    public init(client: S3Client, location: S3Location) {
        self.client = client
        self.location = location
    }

    public func size(of name: String) async throws -> Int64 {
        guard let info = try await client.headObject(bucket: location.bucket, key: location.key(name)) else {
            throw ObjectStoreError(code: .notFound, operation: "HEAD", endpoint: "\(client.configuration.endpoint)",
                                   bucket: location.bucket, key: location.key(name), status: 404, reason: "no such object")
        }
        return info.size
    }

    public func download(_ name: String, to path: String, expectedSize: Int64) async throws {
        try await client.download(bucket: location.bucket, key: location.key(name), to: path, expectedSize: expectedSize)
    }

    public func read(_ name: String, range: Range<Int64>) async throws -> [UInt8] {
        try await client.getObject(bucket: location.bucket, key: location.key(name), range: range)
    }
}
