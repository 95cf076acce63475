import Foundation
import Hummingbird
import LoomPipeline
import LoomStore

/// What the gallery's templates render: plain stored properties (Mustache reads them by
/// reflection), every number already formatted, every URL already built.
enum GalleryPages {
    /// A thumbnail that links to its lineage page.
    struct Thumb: Sendable {
        var src: String
        var href: String
        var title: String

        init(digest: String, title: String) {
            src = "/v1/blobs/" + digest
            href = "/images/" + digest
            self.title = title
        }
    }

    struct ClassLink: Sendable {
        var name: String
        var href: String
        var images: Int
    }

    struct DatasetCard: Sendable {
        var name: String
        var href: String
        var images: Int
        var classCount: Int
        var splits: String
        var captions: Int
        var prompts: Int
        var synthetic: Int
        var classes: [ClassLink]
    }

    struct Index: Sendable {
        var datasets: [DatasetCard]
        var runCount: Int
    }

    struct ClassSection: Sendable {
        var anchor: String
        var name: String
        var label: Int
        var images: Int
        var syntheticCount: Int
        var real: [Thumb]
        var synthetic: [Thumb]
        var hasSynthetic: Bool
    }

    struct Dataset: Sendable {
        var name: String
        var images: Int
        var classCount: Int
        var splits: String
        var captions: Int
        var prompts: Int
        var synthetic: Int
        var classes: [ClassSection]
    }

    struct RealRow: Sendable {
        var dataset: String
        var datasetHref: String
        var split: String
        var className: String
        var classHref: String
        var path: String
    }

    struct PromptView: Sendable {
        var strategy: String
        var text: String
        var count: Int
        var images: [Thumb]
    }

    struct CaptionView: Sendable {
        var captioner: String
        var text: String
        var prompts: [PromptView]
    }

    struct RealView: Sendable {
        var rows: [RealRow]
        var captions: [CaptionView]
    }

    struct SyntheticView: Sendable {
        var prompt: String
        var strategy: String
        var template: String
        var fullText: String?
        var caption: String?
        var captioner: String
        var source: Thumb?
        var className: String
        var classHref: String
        var dataset: String
        var datasetHref: String
        var generator: String
        var seed: Int64
        var steps: Int
        var guidance: String
        var size: String
    }

    struct Image: Sendable {
        var kind: String
        var digest: String
        var short: String
        var src: String
        var real: RealView?
        var synthetic: SyntheticView?
    }

    struct RunRow: Sendable {
        var id: Int64
        var href: String
        var stage: String
        var name: String?
        var dataset: String
        var status: String
        var started: String
        var finished: String?
        var parent: Int64?
        var parentHref: String?
    }

    struct Runs: Sendable {
        var runs: [RunRow]
        var truncated: Bool
        var limit: Int
    }

    struct ModelRow: Sendable {
        var label: String
        var selection: String
        var trainImages: String
        var epochs: String
        var top1: String
        var top5: String
        var seconds: String
        var runID: String
        var runHref: String
    }

    struct PerClassRow: Sendable {
        var name: String
        var cells: [String]
    }

    struct ExperimentView: Sendable {
        var builtin: Bool
        var captioner: String
        var generator: String
        var models: [ModelRow]
        var chartHref: String?
        var chartMissing: String?
        var modelNames: [String]
        var perClass: [PerClassRow]
    }

    struct EpochRow: Sendable {
        var epoch: Int
        var loss: String
        var trainTop1: String
        var evalTop1: String
        var evalTop5: String
        var imagesPerS: String
        var seconds: String
    }

    struct ClassAccuracyRow: Sendable {
        var name: String
        var correct: Int
        var total: Int
        var accuracy: String
    }

    struct CheckpointRow: Sendable {
        var epoch: Int
        var digest: String
        var cursor: String
        var created: String
    }

    struct TrainView: Sendable {
        var epochs: [EpochRow]
        var classes: [ClassAccuracyRow]
        var hasClasses: Bool
        var checkpoints: [CheckpointRow]
        var hasCheckpoints: Bool
    }

    struct ChildLink: Sendable {
        var id: Int64
        var href: String
    }

    struct Run: Sendable {
        var id: Int64
        var stage: String
        var name: String?
        var dataset: String
        var status: String
        var started: String
        var finished: String?
        var parent: Int64?
        var parentHref: String?
        var experiment: ExperimentView?
        var train: TrainView?
        var children: [ChildLink]
        var hasChildren: Bool
        var config: String
        var summary: String
    }

    struct ErrorPage: Sendable {
        var status: String
        var message: String
    }

    // MARK: - Building the pages

    /// A name as one URL path segment: everything but unreserved characters percent-encoded.
    static func segment(_ name: String) -> String {
        var allowed = CharacterSet.alphanumerics.intersection(CharacterSet(charactersIn: Unicode.Scalar(0)..<Unicode.Scalar(128)))
        allowed.insert(charactersIn: "-._~")
        return name.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    static func datasetHref(_ name: String) -> String { "/datasets/" + segment(name) }
    static func classAnchor(_ label: Int) -> String { "class-\(label)" }
    static func percent(_ value: Double?) -> String { value.map { String(format: "%.1f", $0 * 100) } ?? "–" }
    static func fixed(_ value: Double?, _ digits: Int) -> String { value.map { String(format: "%.\(digits)f", $0) } ?? "–" }

    static func splitsText(_ splits: [CatalogRoutes.DatasetEntry.Split]) -> String {
        splits.map { "\($0.name) \($0.images)" }.joined(separator: " · ")
    }

    static func index(_ store: Store) throws -> Index {
        let datasets = try CatalogRoutes.datasetList(store)
        let classes = Dictionary(grouping: try CatalogRoutes.classList(store, dataset: nil), by: \.dataset)
        let runs = try store.read { try $0.runs.count() }
        return Index(datasets: datasets.map { d in
            DatasetCard(name: d.name, href: datasetHref(d.name), images: d.images, classCount: d.classes, splits: splitsText(d.splits),
                        captions: d.captions, prompts: d.prompts, synthetic: d.synthetic,
                        classes: (classes[d.name] ?? []).map {
                            ClassLink(name: $0.name, href: datasetHref(d.name) + "#" + classAnchor($0.label), images: $0.images)
                        })
        }, runCount: runs)
    }

    /// Thumbnails per class on a dataset page.
    static let thumbsPerClass = 12

    static func dataset(_ store: Store, name: String) throws -> Dataset {
        guard let entry = try CatalogRoutes.datasetList(store).first(where: { $0.name == name }) else {
            _ = try store.read { try $0.datasets.requireDataset(named: name) }
            throw APIError(.notFound, "no dataset named \"\(name)\"")
        }
        let sections = try store.read { catalog -> [ClassSection] in
            guard let dataset = try catalog.datasets.dataset(named: name) else { return [] }
            let real = Dictionary(grouping: try catalog.datasets.realThumbnails(of: dataset.id, perClass: thumbsPerClass), by: \.classID)
            let synthetic = Dictionary(grouping: try catalog.datasets.syntheticThumbnails(of: dataset.id, perClass: thumbsPerClass),
                                       by: \.classID)
            func thumbs(_ list: [ClassThumbnail]?) -> [Thumb] { (list ?? []).map { Thumb(digest: $0.digest.hex, title: $0.title) } }
            return try catalog.datasets.classSummaries(dataset: name, countSynthetic: true).map { summary in
                let id = summary.class.id, label = summary.class.label
                let fakes = thumbs(synthetic[id])
                return ClassSection(anchor: classAnchor(label), name: summary.class.name, label: label, images: summary.images,
                                    syntheticCount: summary.synthetic, real: thumbs(real[id]), synthetic: fakes, hasSynthetic: !fakes.isEmpty)
            }
        }
        return Dataset(name: entry.name, images: entry.images, classCount: entry.classes, splits: splitsText(entry.splits),
                       captions: entry.captions, prompts: entry.prompts, synthetic: entry.synthetic, classes: sections)
    }

    static func image(_ store: Store, digest text: String) throws -> Image {
        let lineage = try Lineage.lookup(store, text)
        switch lineage {
        case .real(let real):
            let rows = real.images.map {
                RealRow(dataset: $0.dataset, datasetHref: datasetHref($0.dataset), split: $0.split, className: $0.class.name,
                        classHref: datasetHref($0.dataset) + "#" + classAnchor($0.class.label), path: $0.path)
            }
            let captions = real.captions.map { caption in
                CaptionView(captioner: caption.captioner, text: caption.text, prompts: caption.prompts.map { prompt in
                    PromptView(strategy: prompt.strategy, text: prompt.text, count: prompt.synthetic.count,
                               images: prompt.synthetic.map { Thumb(digest: $0.digest, title: "\($0.generator) seed \($0.seed)") })
                })
            }
            return Image(kind: "Real", digest: real.digest, short: String(real.digest.prefix(12)), src: "/v1/blobs/" + real.digest,
                         real: RealView(rows: rows, captions: captions), synthetic: nil)
        case .synthetic(let s):
            let view = SyntheticView(
                prompt: s.prompt.text, strategy: s.prompt.strategy, template: s.prompt.template, fullText: s.prompt.fullText,
                caption: s.caption?.text, captioner: s.caption?.captioner ?? "",
                source: s.real.map { Thumb(digest: $0.digest, title: "\($0.path) (\($0.split))") },
                className: s.class.name, classHref: datasetHref(s.dataset) + "#" + classAnchor(s.class.label),
                dataset: s.dataset, datasetHref: datasetHref(s.dataset), generator: "\(s.generator.name) \(s.generator.version)",
                seed: s.seed, steps: s.steps, guidance: fixed(s.guidance, 1), size: "\(s.width)x\(s.height)")
            return Image(kind: "Synthetic", digest: s.digest, short: String(s.digest.prefix(12)), src: "/v1/blobs/" + s.digest,
                         real: nil, synthetic: view)
        }
    }

    static let runLimit = 500

    static func runRow(_ run: RunRoutes.RunEntry) -> RunRow {
        RunRow(id: run.id, href: "/runs/\(run.id)", stage: run.stage, name: run.summary["name"]?.stringValue ?? run.name,
               dataset: run.dataset ?? "–", status: run.status, started: run.startedAt, finished: run.finishedAt,
               parent: run.parentID, parentHref: run.parentID.map { "/runs/\($0)" })
    }

    static func runs(_ store: Store) throws -> Runs {
        let runs = try store.read { try $0.runs.runs(RunFilter(), offset: 0, limit: runLimit + 1) }
        return Runs(runs: runs.prefix(runLimit).map { runRow(RunRoutes.RunEntry($0)) }, truncated: runs.count > runLimit, limit: runLimit)
    }

    static func run(_ store: Store, id: Int64, reportsDirectory: String) throws -> Run {
        let detail = try RunRoutes.load(store, id: id)
        let row = runRow(detail.run)
        var page = Run(id: row.id, stage: row.stage, name: row.name, dataset: row.dataset, status: row.status, started: row.started,
                       finished: row.finished, parent: row.parent, parentHref: row.parentHref, experiment: nil, train: nil,
                       children: detail.children.map { ChildLink(id: $0, href: "/runs/\($0)") }, hasChildren: !detail.children.isEmpty,
                       config: pretty(detail.run.config), summary: pretty(detail.run.summary))
        if detail.run.stage == "experiment" {
            page.experiment = experiment(detail.run, reportsDirectory: reportsDirectory)
        }
        if detail.run.stage == "train" || !detail.epochs.isEmpty {
            page.train = TrainView(
                epochs: detail.epochs.map {
                    EpochRow(epoch: $0.epoch, loss: fixed($0.loss, 4), trainTop1: percent($0.trainTop1), evalTop1: percent($0.evalTop1),
                             evalTop5: percent($0.evalTop5), imagesPerS: fixed($0.imagesPerS, 0), seconds: fixed($0.seconds, 1))
                },
                classes: detail.evalClasses.map {
                    ClassAccuracyRow(name: $0.name ?? "label \($0.label)", correct: $0.correct, total: $0.total, accuracy: percent($0.accuracy))
                },
                hasClasses: !detail.evalClasses.isEmpty,
                checkpoints: detail.checkpoints.map { CheckpointRow(epoch: $0.epoch, digest: $0.digest, cursor: $0.cursor, created: $0.createdAt) },
                hasCheckpoints: !detail.checkpoints.isEmpty)
        }
        return page
    }

    /// The models table, chart and per-class table of an experiment, from its summary (what
    /// `loom experiment --json` printed, kept in the run row).
    static func experiment(_ run: RunRoutes.RunEntry, reportsDirectory: String) -> ExperimentView {
        let summary = run.summary
        let results = summary["results"]?.arrayValue ?? []
        let models = results.map { result -> ModelRow in
            let s = result["summary"] ?? .null
            let runID = s["run_id"]?.int64Value
            return ModelRow(label: result["label"]?.stringValue ?? "?", selection: result["selection"]?.stringValue ?? "",
                            trainImages: s["train_images"]?.int64Value.map(String.init) ?? "–",
                            epochs: s["epochs"]?.int64Value.map(String.init) ?? "–",
                            top1: percent(s["eval_top1"]?.doubleValue), top5: percent(s["eval_top5"]?.doubleValue),
                            seconds: fixed(s["seconds"]?.doubleValue, 1), runID: runID.map(String.init) ?? "–",
                            runHref: runID.map { "/runs/\($0)" } ?? "/runs")
        }
        // Rows: the classes of the first model (all models are evaluated on the same split).
        let perModel = results.map { $0["summary"]?["per_class"]?.arrayValue ?? [] }
        let classNames = (perModel.first ?? []).map { $0["name"]?.stringValue ?? "?" }
        let perClass = classNames.enumerated().map { index, name in
            PerClassRow(name: name, cells: perModel.map { classes in
                guard index < classes.count, let correct = classes[index]["correct"]?.doubleValue,
                      let total = classes[index]["total"]?.doubleValue, total > 0 else { return "–" }
                return percent(correct / total)
            })
        }
        let config = summary["config"] ?? run.config
        let captioner = config["captioner"]?.stringValue ?? "", generator = config["generator"]?.stringValue ?? ""
        var view = ExperimentView(builtin: captioner.hasPrefix("builtin:") || generator.hasPrefix("builtin:"), captioner: captioner,
                                  generator: generator, models: models, chartHref: nil, chartMissing: nil,
                                  modelNames: results.map { $0["label"]?.stringValue ?? "?" }, perClass: perClass)
        switch chartPath(run, reportsDirectory: reportsDirectory) {
        case .success: view.chartHref = "/runs/\(run.id)/chart.svg"
        case .failure(let missing): view.chartMissing = missing.message
        }
        return view
    }

    /// The one file `/runs/{id}/chart.svg` may serve: `report.svg` in the experiment's report
    /// folder. The folder comes from the catalog (the run's summary, written by `loom
    /// experiment`), never from the request; if it is gone, `--reports/<name>/report.svg` is
    /// tried, with the name checked to be a plain folder name.
    static func chartPath(_ run: RunRoutes.RunEntry, reportsDirectory: String) -> Result<String, APIError> {
        guard run.stage == "experiment" else { return .failure(APIError(.notFound, "run \(run.id) is a \(run.stage) run, not an experiment")) }
        var candidates: [String] = []
        if let folder = run.summary["report_dir"]?.stringValue, !folder.isEmpty {
            candidates.append(URL(fileURLWithPath: folder).appendingPathComponent("report.svg").path)
        }
        if let name = run.summary["name"]?.stringValue, !name.isEmpty, !name.hasPrefix("."), !PathGuard.isTraversal(name) {
            candidates.append(URL(fileURLWithPath: reportsDirectory).appendingPathComponent(name).appendingPathComponent("report.svg").path)
        }
        guard !candidates.isEmpty else { return .failure(APIError(.notFound, "run \(run.id) names no report folder")) }
        for path in candidates {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue { return .success(path) }
        }
        return .failure(APIError(.notFound, "the report chart is missing (looked for \(candidates.joined(separator: " and ")))"))
    }

    static func pretty(_ value: JSONValue) -> String {
        (try? CanonicalJSON.data(value, pretty: true)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }
}
