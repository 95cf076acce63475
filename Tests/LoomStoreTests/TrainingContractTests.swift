import Foundation
import LoomStore
import LoomTestSupport
import Testing

// The repository methods training and experiments stand on, against the protocols only, for
// every backend in `CatalogBackend.all` (see CatalogContractTests.swift).

@Suite("Catalog contract: training and experiments")
struct TrainingContractTests {
    @Test("checkpoints are pruned to the newest, per run; eval classes are replaced; samples come back by blob id",
          arguments: CatalogBackend.all)
    func checkpointsClassesAndSamples(_ backend: CatalogBackend) throws {
        let catalog = try backend.make()
        let pets = try Pets(catalog)
        let weights = try (1...3).map { try catalog.commitBlob(Array("weights \($0)".utf8), mediaType: "application/x-loom-checkpoint") }
        let (run, other) = try catalog.writer.transaction { tx in
            let run = try tx.runs.begin(stage: .train, datasetID: pets.datasetID, parentID: nil, config: "{}")
            let other = try tx.runs.begin(stage: .train, datasetID: pets.datasetID, parentID: nil, config: "{}")
            for (index, digest) in weights.enumerated() {
                let blob = try #require(try tx.snapshot.blobs.blob(digest)).id
                try tx.training.recordCheckpoint(of: run, epoch: index + 1, blobID: blob, cursor: "c\(index + 1)")
                try tx.training.recordCheckpoint(of: other, epoch: index + 1, blobID: blob, cursor: "o\(index + 1)")
            }
            try tx.training.pruneCheckpoints(of: run, keep: 2)
            return (run, other)
        }
        #expect(try catalog.reader.read { try $0.training.checkpoints(of: run) }.map(\.epoch) == [2, 3])
        #expect(try catalog.reader.read { try $0.training.checkpoints(of: other) }.map(\.epoch) == [1, 2, 3], "another run's stay")
        try catalog.writer.transaction { try $0.training.pruneCheckpoints(of: run, keep: 0) }
        let kept = try catalog.reader.read { try $0.training.checkpoints(of: run) }
        #expect(kept.map(\.epoch) == [3] && kept.first?.digest == weights[2], "at least the newest stays")

        try catalog.writer.transaction { tx in
            try tx.training.recordEvalClasses([EvalClassRecord(label: 0, correct: 1, total: 2), EvalClassRecord(label: 1, correct: 2, total: 2)], of: run)
            try tx.training.recordEvalClasses([EvalClassRecord(label: 1, correct: 0, total: 3)], of: run)
        }
        let classes = try catalog.reader.read { try $0.training.evalClasses(of: run) }
        #expect(classes.map(\.label) == [1] && classes.first?.total == 3, "the second call replaces the first")

        let blobs = try catalog.reader.read { c in try pets.images.map { try #require(try c.blobs.blob($0)).id } }
        try catalog.writer.transaction { try $0.training.recordSamples([(blobs[2], 0), (blobs[0], 0), (blobs[1], 1)], of: run) }
        let samples = try catalog.reader.read { try $0.training.samples(of: run) }
        #expect(samples.map(\.blobID) == blobs.sorted() && samples.map(\.label) == blobs.sorted().map { $0 == blobs[1] ? 1 : 0 })
        #expect(try catalog.reader.read { try $0.training.samples(of: other) }.isEmpty)
    }

    @Test("the run ledger: a finished run reopens (only a finished one); adopt re-parents a run in any status",
          arguments: CatalogBackend.all)
    func reopenAndAdopt(_ backend: CatalogBackend) throws {
        let catalog = try backend.make()
        let pets = try Pets(catalog)
        let (experiment, training) = try catalog.writer.transaction { tx in
            let experiment = try tx.runs.begin(stage: .experiment, datasetID: pets.datasetID, parentID: nil, config: #"{"e":1}"#)
            let training = try tx.runs.begin(stage: .train, datasetID: pets.datasetID, parentID: nil, config: "{}")
            try tx.runs.finish(id: experiment, summary: #"{"first":true}"#)
            try tx.runs.finish(id: training, summary: "{}")
            return (experiment, training)
        }
        let reopened = try catalog.writer.transaction { try $0.runs.reopen(id: experiment) }
        #expect(reopened.status == .running && reopened.finishedAt == nil && reopened.summary == #"{"first":true}"#)
        #expect(code { try catalog.writer.transaction { _ = try $0.runs.reopen(id: experiment) } } == .conflict, "running")
        try catalog.writer.transaction { try $0.runs.finish(id: experiment, summary: #"{"first":false}"#) }
        let again = try #require(try catalog.reader.read { try $0.runs.run(id: experiment) })
        #expect(again.status == .finished && again.finishedAt != nil && again.summary == #"{"first":false}"#)
        #expect(code { try catalog.writer.transaction { _ = try $0.runs.reopen(id: 999) } } == .notFound)

        try catalog.writer.transaction { try $0.runs.adopt(id: training, parentID: experiment) }
        let adopted = try #require(try catalog.reader.read { try $0.runs.run(id: training) })
        #expect(adopted.parentID == experiment && adopted.status == .finished, "a finished run is adopted as it is")
        #expect(try catalog.reader.read { try $0.runs.children(of: experiment) } == [training])
        #expect(code { try catalog.writer.transaction { try $0.runs.adopt(id: 999, parentID: experiment) } } == .notFound)
    }

    @Test("real images per split; prompts made from captions of images outside a split", arguments: CatalogBackend.all)
    func splitCountsAndCaptionLeaks(_ backend: CatalogBackend) throws {
        let catalog = try backend.make()
        let pets = try Pets(catalog)
        try catalog.reader.read { c throws in
            #expect(try c.datasets.realImageCount(of: pets.trainID) == 2)
            #expect(try c.datasets.realImageCount(of: pets.valID) == 1)
        }
        try catalog.writer.transaction { tx in
            let captioner = try tx.captions.ensureCaptioner(name: "stats", params: "{}", backend: "builtin")
            for split in ["train", "val"] {
                for (path, file) in try tx.snapshot.datasets.ingestedFiles(dataset: "pets", split: split) {
                    let caption = try tx.captions.putCaption(realImageID: file.id, captionerID: captioner, text: "a \(path)", seconds: nil)
                    let classID = file.wnid == "cat" ? pets.cat.id : pets.dog.id
                    for strategy in ["from-captions", "other"] {
                        _ = try tx.prompts.ensurePrompt(PromptRow(datasetID: pets.datasetID, classID: classID, captionID: caption,
                                                                  strategy: strategy, template: "{caption}", text: "a \(path)",
                                                                  tokens: 3, tokenRule: "words"))
                    }
                }
            }
            _ = try tx.prompts.ensurePrompt(PromptRow(datasetID: pets.datasetID, classID: pets.cat.id, captionID: nil,
                                                      strategy: "from-captions", template: "{class}", text: "cat", tokens: 1,
                                                      tokenRule: "words"))
        }
        try catalog.reader.read { c throws in
            #expect(try c.prompts.countFromCaptions(of: pets.datasetID, strategy: "from-captions", outside: "train") == 1,
                    "val/cat/3.jpg's caption; the class-only prompt has no caption")
            #expect(try c.prompts.countFromCaptions(of: pets.datasetID, strategy: "from-captions", outside: "val") == 2)
            #expect(try c.prompts.countFromCaptions(of: pets.datasetID, strategy: "missing", outside: "train") == 0)
        }
    }
}
