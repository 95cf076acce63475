import Foundation
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
            throw PipelineError(.notFound, "\(file): cannot read the captions file")
        }
        guard !captioner.isEmpty else { throw PipelineError(.invalidInput, "a captioner name is required (--captioner)") }
        var summary = Summary(captioner: captioner, imported: 0, unchanged: 0, failed: [])
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        let decoder = JSONDecoder()
        try writer.transaction { tx in
            let datasetID = try tx.datasets.pipelineDatasetID(dataset)
            let captionerID = try tx.captions.ensureCaptioner(name: captioner, params: try CanonicalJSON.text([String: String]()),
                                                              backend: "import")
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
                    images = try tx.captions.realImageIDs(of: datasetID, path: path)
                    if images.isEmpty { fail("no image of \(dataset) at path \(path)"); continue }
                } else if let hex = line.digest {
                    guard let digest = Digest(hex: hex) else { fail("\"\(hex)\" is not a 64-digit SHA-256 digest"); continue }
                    images = try tx.captions.realImageIDs(of: datasetID, digest: digest)
                    if images.isEmpty { fail("no image of \(dataset) with digest \(hex)"); continue }
                } else {
                    fail("neither \"path\" nor \"digest\" given")
                    continue
                }
                for image in images {
                    if try tx.captions.caption(of: image, by: captionerID) == caption {
                        summary.unchanged += 1
                    } else {
                        // An imported caption never has a time, so replacing one leaves none either.
                        try tx.captions.putCaption(realImageID: image, captionerID: captionerID, text: caption, seconds: nil)
                        summary.imported += 1
                    }
                }
            }
        }
        return summary
    }
}
