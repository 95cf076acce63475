import Foundation
import LoomExperiment
import LoomPipeline
import LoomStore
import LoomTestSupport
import LoomTrain
import Testing

@Suite("loom experiment", .serialized)
struct ExperimentRunTests {
    static func config(baseline: Bool = true) -> ExperimentConfig {
        ExperimentConfig(dataset: "ds", perPrompt: 1, imageSize: 24, realBaseline: baseline,
                         training: TrainConfig(train: "", eval: nil, epochs: 2, size: 16, batch: 16, seed: 3, learningRate: 0.05,
                                               warmupEpochs: 0.5))
    }

    @Test func writesAReportThatAgreesWithTheRunsAndReusesEverythingOnReRun() throws {
        let data = try ColorDataset(train: 24, val: 8, side: 24)
        let reports = data.temp.appending("reports")
        var stages: [String] = []
        let first: ExperimentSummary = try {
            let writer = try data.store.makeWriter()
            return try ExperimentRun.run(writer: writer, config: Self.config(), options: .init(threads: 2, reportsDirectory: reports),
                                         events: .init(stage: { stages.append($0) }))
        }()
        #expect(first.results.map(\.label) == ["class-name", "class-caption", "real"])
        #expect(first.captioned == 48, "the training split only")
        // 2 class prompts x 24 images each, and one image per training caption: the same count.
        #expect(first.generated == 48 + 48)
        #expect(first.results.map(\.summary.trainImages) == [48, 48, 48])
        #expect(stages.contains { $0.hasPrefix("captioning ds:train") })

        // The report files exist and say what the run rows say.
        for file in ExperimentReport.files {
            #expect(FileManager.default.fileExists(atPath: "\(first.reportDirectory)/\(file)"), "\(file)")
        }
        #expect(first.reportDirectory == "\(reports)/experiment-\(first.runID)")
        let report = try JSONDecoder().decode(ExperimentSummary.self, from: Data(contentsOf: URL(fileURLWithPath: first.reportDirectory + "/report.json")))
        try data.store.read { catalog in
            let children = try catalog.runs.children(of: first.runID).map { try catalog.runs.requireRun(id: $0) }
            #expect(children.map(\.id) == report.results.map(\.summary.runID))
            #expect(children.allSatisfy { $0.status.rawValue == "finished" })
            for result in report.results {
                let last = try #require(try catalog.training.epochs(of: result.summary.runID).last)
                #expect(last.evalTop1 == result.summary.evalTop1, "\(result.label)")
                #expect(last.evalTop5 == result.summary.evalTop5, "\(result.label)")
                #expect(result.history.count == 2)
                let perClass = try catalog.training.evalClasses(of: result.summary.runID)
                #expect(perClass.map(\.correct) == result.summary.perClass.map(\.correct))
            }
            // The synthetic runs trained on synthetic images of their strategy only.
            var strategyOfBlob: [Int64: String] = [:]
            try catalog.lineage.forEachSynthetic(LineageFilter(dataset: "ds")) { image in
                if let blob = try catalog.blobs.blob(image.digest) { strategyOfBlob[blob.id] = image.strategy }
            }
            let used = try catalog.training.samples(of: report.results[1].summary.runID)
            let strategies = Set(used.compactMap { strategyOfBlob[$0.blobID] })
            #expect(strategies == ["class-caption"])
            let experiment = try catalog.runs.requireRun(id: first.runID)
            #expect(experiment.stage.rawValue == "experiment" && experiment.status.rawValue == "finished")
        }
        let csv = try String(contentsOfFile: first.reportDirectory + "/per_class.csv", encoding: .utf8)
        #expect(csv.split(separator: "\n").count == 1 + 3 * 2)
        let svg = try String(contentsOfFile: first.reportDirectory + "/report.svg", encoding: .utf8)
        #expect(svg.hasPrefix("<svg") && svg.contains("class-caption") && svg.contains("polyline"))
        let markdown = try String(contentsOfFile: first.reportDirectory + "/report.md", encoding: .utf8)
        #expect(markdown.contains("not BLIP-2 and Stable Diffusion"))
        #expect(ExperimentReport.table(first).split(separator: "\n").count == 4)

        // Again: nothing captioned, generated or trained; the same experiment row and results.
        let writer = try data.store.makeWriter()
        let again = try ExperimentRun.run(writer: writer, config: Self.config(), options: .init(threads: 2, reportsDirectory: reports))
        #expect(again.runID == first.runID && again.resumed)
        #expect(again.captioned == 0 && again.generated == 0)
        #expect(again.results.allSatisfy { $0.summary.reused })
        #expect(again.results.map(\.summary.evalTop1) == first.results.map(\.summary.evalTop1))
    }

    @Test func refusesPromptsMadeFromValidationCaptions() throws {
        let data = try ColorDataset(train: 4, val: 2, side: 16)
        let writer = try data.store.makeWriter()
        _ = try CaptionRun.run(writer: writer, dataset: "ds", captioner: try Backends.captioner("builtin:stats"))  // every split
        _ = try PromptBuilder.run(writer: writer, dataset: "ds", strategy: PromptStrategy(name: "class-caption"))
        var config = Self.config(baseline: false)
        config.strategies = ["class-caption"]
        #expect {
            try ExperimentRun.run(writer: writer, config: config, options: .init(threads: 1, reportsDirectory: data.temp.appending("r")))
        } throws: { error in
            "\(error)".contains("4 prompts of strategy class-caption") && "\(error)".contains("leak")
        }
    }
}
