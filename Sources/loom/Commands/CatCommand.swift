import ArgumentParser
import Foundation
import LoomStore

struct CatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cat", abstract: "Write a blob's original bytes to stdout (checked against its digest).")

    @OptionGroup var options: StoreOptions

    @Argument(help: "Digest, or a unique prefix of at least 4 hex digits.")
    var digest: String

    struct Info: Encodable {
        var digest: String
        var bytes: Int
        var codec: String
        var shard: String
        var offset: Int
    }

    func run() throws {
        let store = try options.openReadOnly()
        let resolved = try RealImageListing.resolveDigest(store, digest)
        guard let location = try store.blobs.location(of: resolved) else {
            throw StoreError(.notFound, "no blob \(resolved.hex)")
        }
        if options.json {
            return try Output.json(Info(digest: resolved.hex, bytes: location.rawSize, codec: location.codec.name,
                                        shard: StoreLayout.shardName(location.shardID), offset: location.offset))
        }
        let bytes = try store.blobs.read(digest: resolved, verifyDigest: true)
        FileHandle.standardOutput.write(Data(bytes))
    }
}
