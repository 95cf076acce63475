import Foundation
import LoomImage
import LoomLoader
import LoomStore

/// One image of an export's selection with what travels with it: its label and the metadata a
/// `KEY.json` (WebDataset) or `metadata.jsonl` row (Hugging Face) holds.
struct ExportSample {
    var digest: Digest
    /// The image file's extension as WebDataset decoders expect it: `jpg` or `png`.
    var fileExtension: String
    var label: Int
    /// A real image's file name below its class folder (what ImageFolder exports recreate); nil
    /// for a synthetic image.
    var name: String?
    var metadata: Metadata

    /// JSON keys are part of the export format: `class`, `class_name`, `label`, `dataset`, `split`
    /// (a real split, or `synthetic`), `digest`; a real image's `path`; a synthetic image's
    /// prompt, `strategy`, `template`, `caption`, `captioner`, `generator`, `generator_version`,
    /// `seed`, `steps`, `guidance`, `width`, `height` and its real source (`real_digest`,
    /// `real_path`, `real_split`) when its prompt came from a caption. Absent keys are unknown.
    struct Metadata: Encodable {
        var `class`: String
        var class_name: String
        var label: Int
        var dataset: String
        var split: String
        var digest: String
        var path: String?
        var prompt: String?
        var strategy: String?
        var template: String?
        var caption: String?
        var captioner: String?
        var generator: String?
        var generator_version: String?
        var seed: Int64?
        var steps: Int?
        var guidance: Double?
        var width: Int?
        var height: Int?
        var real_digest: String?
        var real_path: String?
        var real_split: String?
    }

    /// The selection's images in its order (components in turn; real images in (split, path)
    /// order, synthetic ones in generation order). Only rows are read here: blobs are read later,
    /// outside any catalog snapshot.
    static func list(_ store: Store, selection: Selection) throws -> [ExportSample] {
        var samples: [ExportSample] = []
        var classNames: [String: [String: String]] = [:]
        for component in selection.components {
            let dataset = component.dataset
            if classNames[dataset] == nil {
                classNames[dataset] = try store.read { snapshot in
                    let record = try snapshot.datasets.requireDataset(named: dataset)
                    return Dictionary(try snapshot.datasets.classes(of: record.id).map { ($0.wnid, $0.name) }, uniquingKeysWith: { a, _ in a })
                }
            }
            switch component.source {
            case .real(let split):
                var entries: [RealImageEntry] = []
                try RealImageListing.forEach(store, dataset: dataset, split: split) { entries.append($0) }
                for entry in entries {
                    guard let digest = Digest(hex: entry.digest) else { throw StoreError(.corrupt, "bad digest for \(entry.path)") }
                    samples.append(ExportSample(
                        digest: digest, fileExtension: entry.format == "png" ? "png" : "jpg", label: entry.label, name: entry.name,
                        metadata: Metadata(class: entry.class, class_name: classNames[dataset]?[entry.class] ?? entry.class,
                                           label: entry.label, dataset: dataset, split: entry.split, digest: entry.digest,
                                           path: entry.path)))
                }
            case .synthetic(let strategy):
                var records: [LineageRecord] = []
                try store.read { try $0.lineage.forEachSynthetic(LineageFilter(dataset: dataset, strategy: strategy)) { records.append($0) } }
                if records.isEmpty {
                    throw StoreError(.notFound, "selection \(component.name): no synthetic images of strategy \(strategy) in \(dataset)")
                }
                for record in records {
                    samples.append(ExportSample(
                        digest: record.digest, fileExtension: "", label: record.label,
                        metadata: Metadata(
                            class: record.classWnid, class_name: record.className, label: record.label, dataset: dataset,
                            split: "synthetic", digest: record.digest.hex, prompt: record.prompt, strategy: record.strategy,
                            template: record.template, caption: record.caption, captioner: record.captioner,
                            generator: record.generator, generator_version: record.generatorVersion, seed: record.seed,
                            steps: record.steps, guidance: record.guidance, width: record.width, height: record.height,
                            real_digest: record.realDigest?.hex, real_path: record.realPath, real_split: record.realSplit)))
                }
            }
        }
        return samples
    }

    /// `jpg` or `png` from the bytes (synthetic images carry no format column).
    static func fileExtension(of bytes: [UInt8]) throws -> String {
        switch try bytes.withUnsafeBytes({ try ImageFormat.sniff($0) }) {
        case .png: "png"
        case .jpeg: "jpg"
        }
    }
}
