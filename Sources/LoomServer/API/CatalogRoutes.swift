import Foundation
import Hummingbird
import LoomPipeline
import LoomStore

/// Read endpoints over the catalog. Shapes and keys follow the CLI's `--json` output wherever
/// the CLI has one (`stats`, `ls`, `lineage`, `synthetic`, `sql`); lists are wrapped in an
/// object with paging fields.
enum CatalogRoutes {
    static let routes: [Route] = [
        Route(.get, "/v1/stats", stats),
        Route(.get, "/v1/datasets", datasets),
        Route(.get, "/v1/classes", classes),
        Route(.get, "/v1/images", images),
        Route(.get, "/v1/lineage/{digest}", lineage),
        Route(.get, "/v1/synthetic", synthetic),
        Route(.get, "/v1/sql", SQLRoutes.sql),
    ]

    static func stats(_ request: Request, _ context: BasicRequestContext, _ state: ServerState) async throws -> Response {
        _ = try QueryParameters(request, allowed: [])
        return JSONBody.response(try await state.store.read { try StoreStats.collect($0) })
    }

    struct DatasetEntry: Encodable, Sendable {
        struct Split: Encodable, Sendable { var name: String; var images: Int }
        var name: String
        var images: Int
        var classes: Int
        var splits: [Split]
        var captions: Int
        var prompts: Int
        var synthetic: Int
    }

    static func datasets(_ request: Request, _ context: BasicRequestContext, _ state: ServerState) async throws -> Response {
        _ = try QueryParameters(request, allowed: [])
        let list = try await state.store.read { store in try datasetList(store) }
        return JSONBody.response(["datasets": list])
    }

    static func datasetList(_ store: Store) throws -> [DatasetEntry] {
        let stats = try StoreStats.collect(store)
        let derived = try store.read { try $0.datasets.derivedCounts() }
        return stats.datasets.map { d in
            let counts = derived[d.name] ?? DerivedCounts()
            return DatasetEntry(name: d.name, images: d.images, classes: d.classes,
                                splits: d.splits.map { .init(name: $0.name, images: $0.images) },
                                captions: counts.captions, prompts: counts.prompts, synthetic: counts.synthetic)
        }
    }

    struct ClassEntry: Encodable, Sendable {
        var dataset: String
        var label: Int
        var wnid: String
        var name: String
        var promptName: String
        var images: Int

        enum CodingKeys: String, CodingKey {
            case dataset, label, wnid, name, images
            case promptName = "prompt_name"
        }
    }

    static func classes(_ request: Request, _ context: BasicRequestContext, _ state: ServerState) async throws -> Response {
        let query = try QueryParameters(request, allowed: ["dataset"])
        let dataset = try query.name("dataset")
        let list = try await state.store.read { store in try classList(store, dataset: dataset) }
        return JSONBody.response(["classes": list])
    }

    static func classList(_ store: Store, dataset: String?) throws -> [ClassEntry] {
        try store.read { try $0.datasets.classSummaries(dataset: dataset, countSynthetic: false) }.map {
            ClassEntry(dataset: $0.dataset, label: $0.class.label, wnid: $0.class.wnid, name: $0.class.name,
                       promptName: $0.class.promptName, images: $0.images)
        }
    }

    struct Page<Item: Encodable & Sendable>: Encodable, Sendable {
        var items: [Item]
        var key: String
        var offset: Int
        var limit: Int
        /// The offset of the next page, nil on the last.
        var nextOffset: Int?

        enum CodingKeys: String, CodingKey { case offset, limit, nextOffset = "next_offset" }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(offset, forKey: .offset)
            try container.encode(limit, forKey: .limit)
            try container.encode(nextOffset, forKey: .nextOffset)
            var items = encoder.container(keyedBy: DynamicKey.self)
            try items.encode(self.items, forKey: DynamicKey(stringValue: key))
        }
    }

    struct DynamicKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    static let maxPage = 1000

    static func paging(_ query: QueryParameters) throws -> (offset: Int, limit: Int) {
        (try query.int("offset", in: 0...Int(Int32.max)) ?? 0, try query.int("limit", in: 1...maxPage) ?? 100)
    }

    static func images(_ request: Request, _ context: BasicRequestContext, _ state: ServerState) async throws -> Response {
        let query = try QueryParameters(request, allowed: ["dataset", "split", "class", "offset", "limit"])
        let dataset = try query.name("dataset"), split = try query.name("split"), className = try query.name("class")
        if split != nil && dataset == nil { throw APIError.badParameter("split", "needs dataset too") }
        let (offset, limit) = try paging(query)
        let page = try await state.store.read { store -> Page<RealImageEntry> in
            let rows = try store.read { catalog in
                try catalog.datasets.realImages(RealImageFilter(dataset: dataset, split: split, className: className),
                                                offset: offset, limit: limit + 1)
            }
            return Page(items: Array(rows.prefix(limit)), key: "images", offset: offset, limit: limit,
                        nextOffset: rows.count > limit ? offset + limit : nil)
        }
        return JSONBody.response(page)
    }

    /// A digest or unique prefix as a path parameter: hex only, so it can never be a path.
    static func digestParameter(_ context: BasicRequestContext) throws -> String {
        let text = try context.pathParameter("digest")
        guard (4...64).contains(text.utf8.count), text.utf8.allSatisfy({ $0 < 0x80 && Character(Unicode.Scalar($0)).isHexDigit }) else {
            throw APIError.badParameter("digest", "\"\(text)\" is not a SHA-256 digest (64 hex digits) or a hex prefix of at least 4")
        }
        return text
    }

    static func lineage(_ request: Request, _ context: BasicRequestContext, _ state: ServerState) async throws -> Response {
        _ = try QueryParameters(request, allowed: [])
        let digest = try digestParameter(context)
        // Its errors carry their code: a digest that is no image is `not-found` (404).
        return JSONBody.response(try await state.store.read { try Lineage.lookup($0, digest) })
    }

    private struct Stop: Error {}

    static func synthetic(_ request: Request, _ context: BasicRequestContext, _ state: ServerState) async throws -> Response {
        let query = try QueryParameters(request, allowed: ["dataset", "caption_contains", "strategy", "class", "generator", "offset", "limit"])
        let filter = Lineage.Filter(
            dataset: try query.name("dataset"), captionContains: try query.string("caption_contains"),
            strategy: try query.name("strategy"), className: try query.name("class"), generator: try query.name("generator"))
        let (offset, limit) = try paging(query)
        let page = try await state.store.read { store -> Page<Lineage.SyntheticEntry> in
            var entries: [Lineage.SyntheticEntry] = []
            var seen = 0, more = false
            do {
                try Lineage.forEachSynthetic(store, filter: filter) { entry in
                    defer { seen += 1 }
                    if seen < offset { return }
                    if entries.count == limit { more = true; throw Stop() }
                    entries.append(entry)
                }
            } catch is Stop {}
            return Page(items: entries, key: "synthetic", offset: offset, limit: limit, nextOffset: more ? offset + limit : nil)
        }
        return JSONBody.response(page)
    }
}
