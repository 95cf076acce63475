import Foundation
import GRDB
import LoomStore

/// `loom caption import`: captions made elsewhere, one JSON object per line,
/// `{"path": "train/n01440764/x.JPEG", "caption": "..."}` or `{"digest": "<sha256>", "caption": "..."}`.
///
/// Paths are those `loom ls` prints (relative to the ingest root). A digest names every real
/// image of the dataset with those bytes. Bad lines are reported with their number and the rest
/// still load; importing the same file again changes nothing.
public enum CaptionImport {
    public struct Failure: Codable, Sendable, Hashable {
        public var line: Int
        public var reason: String
    }

    public struct Summary: Codable, Sendable {
        public var captioner: String
        /// Captions stored (new, or replacing a different text from the same captioner).
        public var imported: Int
        /// Lines whose caption was already stored with the same text.
        public var unchanged: Int
        public var failed: [Failure]
    }

    struct Line: Decodable {
        var path: String?
        var digest: String?
        var caption: String?
    }

    public static func run(writer: StoreWriter, file: String, dataset: String, captioner: String) throws -> Summary {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw PipelineError("\(file): cannot read the captions file")
        }
        guard !captioner.isEmpty else { throw PipelineError("a captioner name is required (--captioner)") }
        var summary = Summary(captioner: captioner, imported: 0, unchanged: 0, failed: [])
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        let decoder = JSONDecoder()
        try writer.commit { db, _ in
            guard let datasetID = try DatasetCatalog.datasetID(db, name: dataset) else {
                throw PipelineError("no dataset named \"\(dataset)\"")
            }
            let captionerID = try Captioners.ensure(db, name: captioner, backend: "import")
            let byPath = try db.cachedStatement(sql: """
                SELECT r.id FROM real_images r JOIN splits s ON s.id = r.split_id WHERE s.dataset_id = ? AND r.path = ?
                """)
            let byDigest = try db.cachedStatement(sql: """
                SELECT r.id FROM real_images r JOIN splits s ON s.id = r.split_id JOIN blobs b ON b.id = r.blob_id
                WHERE s.dataset_id = ? AND b.digest = ?
                """)
            let existing = try db.cachedStatement(sql: "SELECT text FROM captions WHERE real_image_id = ? AND captioner_id = ?")
            let upsert = try db.cachedStatement(sql: """
                INSERT INTO captions (real_image_id, captioner_id, text) VALUES (?, ?, ?)
                ON CONFLICT (real_image_id, captioner_id) DO UPDATE SET text = excluded.text
                """)
            for (index, raw) in lines.enumerated() {
                let number = index + 1
                let text = raw.trimmingCharacters(in: .whitespacesAndNewlines)
                if text.isEmpty { continue }
                func fail(_ reason: String) { summary.failed.append(Failure(line: number, reason: reason)) }
                guard let line = try? decoder.decode(Line.self, from: Data(text.utf8)) else {
                    fail("not a JSON object with \"path\" or \"digest\" and \"caption\"")
                    continue
                }
                guard let caption = line.caption?.trimmingCharacters(in: .whitespacesAndNewlines), !caption.isEmpty else {
                    fail("no caption text")
                    continue
                }
                var images: [Int64] = []
                if let path = line.path {
                    images = try Int64.fetchAll(byPath, arguments: [datasetID, path])
                    if images.isEmpty { fail("no image of \(dataset) at path \(path)"); continue }
                } else if let hex = line.digest {
                    guard let digest = Digest(hex: hex) else { fail("\"\(hex)\" is not a 64-digit SHA-256 digest"); continue }
                    images = try Int64.fetchAll(byDigest, arguments: [datasetID, digest])
                    if images.isEmpty { fail("no image of \(dataset) with digest \(hex)"); continue }
                } else {
                    fail("neither \"path\" nor \"digest\" given")
                    continue
                }
                for image in images {
                    if try String.fetchOne(existing, arguments: [image, captionerID]) == caption {
                        summary.unchanged += 1
                    } else {
                        try upsert.execute(arguments: [image, captionerID, caption])
                        summary.imported += 1
                    }
                }
            }
        }
        return summary
    }
}
