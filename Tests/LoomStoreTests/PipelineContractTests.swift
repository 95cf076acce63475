import LoomStore
import LoomTestSupport
import Testing

// The pipeline's repository methods (captions, prompts, synthetic images, jobs, the run ledger's
// finish-with-failures, real-image lineage), against the protocols: every backend in
// `CatalogBackend.all` runs them.

@Suite("Pipeline repository contract")
struct PipelineContractTests {
    /// Pets with one captioner ("blip", backend "process:blip") that captioned both cat images.
    struct Captioned {
        var pets: Pets
        var captioner: Int64
        /// Real image ids of train/cat/1.jpg, train/dog/2.jpg, val/cat/3.jpg.
        var images: [Int64]
        /// Caption ids of images 0 and 2.
        var captions: [Int64]
    }

    static func captioned(_ catalog: any ContractCatalog) throws -> Captioned {
        let pets = try Pets(catalog)
        return try catalog.writer.transaction { tx throws in
            let files = try ["train", "val"].flatMap { try tx.snapshot.datasets.ingestedFiles(dataset: "pets", split: $0) }
            let ids = ["train/cat/1.jpg", "train/dog/2.jpg", "val/cat/3.jpg"].map { path in files.first { $0.key == ExactName(path) }!.value.id }
            let blip = try tx.captions.ensureCaptioner(name: "blip", params: #"{"version":"1"}"#, backend: "process:blip")
            let captions = try [ids[0], ids[2]].map {
                try tx.captions.putCaption(realImageID: $0, captionerID: blip, text: "a cat \($0)", seconds: 0.25)
            }
            return Captioned(pets: pets, captioner: blip, images: ids, captions: captions)
        }
    }

    @Test("captions: targets, uncaptioned counts, lookups by path and digest, streaming, removal", arguments: CatalogBackend.all)
    func captions(_ backend: CatalogBackend) throws {
        let catalog = try backend.make()
        let f = try Self.captioned(catalog)
        let pets = f.pets
        try catalog.writer.transaction { tx throws in
            _ = try tx.captions.ensureCaptioner(name: "other", params: "{}", backend: "import")
        }
        try catalog.reader.read { c throws in
            #expect(try c.captions.captionerCount() == 2)
            let latest = try #require(try c.captions.latestCaptioner(backend: "process:blip"))
            #expect(latest.id == f.captioner && latest.name == "blip" && latest.version == "" && latest.params == #"{"version":"1"}"#)
            #expect(!latest.createdAt.isEmpty)
            #expect(try c.captions.latestCaptioner(backend: "process:nope") == nil)
            #expect(try c.captions.caption(of: f.images[0], by: f.captioner) == "a cat \(f.images[0])")
            #expect(try c.captions.caption(of: f.images[1], by: f.captioner) == nil)

            let all = try c.captions.captionTargets(of: pets.datasetID, splitID: nil, captionerID: f.captioner)
            #expect(all.map(\.realImageID) == f.images && all.map(\.captioned) == [true, false, true])
            #expect(all.map(\.path) == ["train/cat/1.jpg", "train/dog/2.jpg", "val/cat/3.jpg"])
            #expect(all.map(\.digest) == pets.images && all.allSatisfy { $0.mediaType == "image/jpeg" })
            let val = try c.captions.captionTargets(of: pets.datasetID, splitID: pets.valID, captionerID: f.captioner)
            #expect(val.map(\.realImageID) == [f.images[2]])
            #expect(try c.captions.uncaptionedCount(of: pets.datasetID, splitID: nil, captionerID: f.captioner) == 1)
            #expect(try c.captions.uncaptionedCount(of: pets.datasetID, splitID: pets.trainID, captionerID: f.captioner) == 1)
            #expect(try c.captions.uncaptionedCount(of: pets.datasetID, splitID: pets.valID, captionerID: f.captioner) == 0)

            #expect(try c.captions.realImageIDs(of: pets.datasetID, path: "train/dog/2.jpg") == [f.images[1]])
            #expect(try c.captions.realImageIDs(of: pets.datasetID, path: "train/dog/9.jpg").isEmpty)
            #expect(try c.captions.realImageIDs(of: pets.datasetID, digest: pets.images[2]) == [f.images[2]])
            #expect(try c.captions.realImageIDs(of: pets.datasetID + 1, digest: pets.images[2]).isEmpty)

            var streamed: [DatasetCaption] = []
            try c.captions.forEachCaption(of: pets.datasetID, captioner: "blip", split: nil) { streamed.append($0) }
            #expect(streamed.map(\.id) == f.captions && streamed.allSatisfy { $0.classID == pets.cat.id })
            streamed = []
            try c.captions.forEachCaption(of: pets.datasetID, captioner: "blip", split: "val") { streamed.append($0) }
            #expect(streamed.map(\.text) == ["a cat \(f.images[2])"])
            try c.captions.forEachCaption(of: pets.datasetID, captioner: "other", split: nil) { _ in Issue.record("no captions by other") }

            let details = try c.captions.captionDetails(of: pets.datasetID)
            #expect(details.map(\.id) == f.captions && details.map(\.path) == ["train/cat/1.jpg", "val/cat/3.jpg"])
            #expect(details.map(\.digest) == [pets.images[0], pets.images[2]])
            #expect(details.allSatisfy { $0.captioner == "blip" && $0.captionerBackend == "process:blip" && $0.seconds == 0.25 })
            #expect(try c.captions.captionDetails(of: nil) == details && c.captions.captionDetails(of: pets.datasetID + 1).isEmpty)
        }
        try catalog.writer.transaction { try $0.captions.removeCaption(id: f.captions[0]) }
        #expect(code { try catalog.writer.transaction { try $0.captions.removeCaption(id: f.captions[0]) } } == .notFound)
        try catalog.reader.read { c throws in
            #expect(try c.captions.uncaptionedCount(of: pets.datasetID, splitID: nil, captionerID: f.captioner) == 2)
            #expect(try c.captions.captionDetails(of: nil).map(\.id) == [f.captions[1]])
        }
    }

    @Test("prompts: insert reports whether it added, listing by strategy in id order", arguments: CatalogBackend.all)
    func prompts(_ backend: CatalogBackend) throws {
        let catalog = try backend.make()
        let f = try Self.captioned(catalog)
        let pets = f.pets
        let byCaption = PromptRow(datasetID: pets.datasetID, classID: pets.cat.id, captionID: f.captions[0], strategy: "class-caption",
                                  template: "{class}, {caption}", text: "cat, a cat", tokens: 3, tokenRule: "clip-words-v1",
                                  truncated: true, fullText: "cat, a cat that is long")
        let byClass = PromptRow(datasetID: pets.datasetID, classID: pets.dog.id, captionID: nil, strategy: "class-name",
                                template: "{class}", text: "dog", tokens: 1, tokenRule: "clip-words-v1")
        try catalog.writer.transaction { tx throws in
            #expect(try tx.prompts.insertPrompt(byCaption))
            #expect(try tx.prompts.insertPrompt(byClass))
            var changed = byClass
            changed.text = "a dog"
            #expect(try !tx.prompts.insertPrompt(changed), "the same (strategy, template, class, caption) is there")
            #expect(try !tx.prompts.insertPrompt(byCaption))
        }
        try catalog.reader.read { c throws in
            let all = try c.prompts.prompts(of: pets.datasetID, strategy: nil)
            #expect(all.map(\.row) == [byCaption, byClass])
            #expect(all[0].id < all[1].id)
            #expect(try c.prompts.prompts(of: pets.datasetID, strategy: "class-name").map(\.row) == [byClass])
            #expect(try c.prompts.prompts(of: pets.datasetID, strategy: "none").isEmpty)
        }
    }

    @Test("synthetic images: latest generator per backend, contains, put reports whether it added", arguments: CatalogBackend.all)
    func synthetic(_ backend: CatalogBackend) throws {
        let catalog = try backend.make()
        let pets = try Pets(catalog)
        let fake = try catalog.commitBlob(Array("synthetic".utf8), mediaType: "image/png")
        let (prompt, older, newer) = try catalog.writer.transaction { tx throws in
            let prompt = try tx.prompts.ensurePrompt(PromptRow(datasetID: pets.datasetID, classID: pets.cat.id, captionID: nil,
                                                               strategy: "class-name", template: "{class}", text: "cat", tokens: 1,
                                                               tokenRule: "clip-words-v1"))
            let older = try tx.synthetic.ensureGenerator(name: "sd", version: "1", params: "{}", backend: "process:sd")
            let newer = try tx.synthetic.ensureGenerator(name: "sd", version: "2", params: "{}", backend: "process:sd")
            return (prompt, older, newer)
        }
        #expect(older != newer)
        let key = SyntheticKey(promptID: prompt, generatorID: newer, seed: 9, steps: 4, guidance: 1.5, width: 32, height: 16)
        let row = try catalog.reader.read { c in
            SyntheticRow(blobID: try #require(try c.blobs.blob(fake)).id, promptID: prompt, generatorID: newer, seed: 9, steps: 4,
                         guidance: 1.5, width: 32, height: 16, params: #"{"index":"0"}"#, seconds: 0.5)
        }
        try catalog.reader.read { c throws in
            let latest = try #require(try c.synthetic.latestGenerator(backend: "process:sd"))
            #expect(latest.id == newer && latest.name == "sd" && latest.version == "2" && latest.params == "{}" && !latest.createdAt.isEmpty)
            #expect(try c.synthetic.latestGenerator(backend: "builtin:x") == nil)
            #expect(try !c.synthetic.contains(key))
        }
        try catalog.writer.transaction { tx throws in
            #expect(try tx.synthetic.putSynthetic(row))
            #expect(try !tx.synthetic.putSynthetic(row))
        }
        try catalog.reader.read { c throws in
            #expect(try c.synthetic.contains(key))
            var other = key
            other.seed = 10
            #expect(try !c.synthetic.contains(other))
            other = key
            other.generatorID = older
            #expect(try !c.synthetic.contains(other))
            let stored = try c.synthetic.syntheticImages()
            #expect(stored.map(\.row) == [row] && stored.map(\.digest) == [fake])
        }
    }

    @Test("jobs: marking existing work done without an attempt, retries counting attempts", arguments: CatalogBackend.all)
    func jobs(_ backend: CatalogBackend) throws {
        let catalog = try backend.make()
        let run = try catalog.writer.transaction { tx throws in
            let run = try tx.runs.begin(stage: .generate, datasetID: nil, parentID: nil, config: "{}")
            try tx.jobs.plan(["a", "b", "c"], for: run)
            try tx.jobs.markExisting("a", of: run)
            try tx.jobs.markRetry("b", of: run, error: "busy")
            try tx.jobs.markRetry("b", of: run, error: "busy again")
            try tx.jobs.markDone("c", of: run)
            try tx.jobs.markExisting("c", of: run)
            return run
        }
        #expect(code { try catalog.writer.transaction { try $0.jobs.markExisting("zz", of: run) } } == .notFound)
        #expect(code { try catalog.writer.transaction { try $0.jobs.markRetry("zz", of: run, error: "x") } } == .notFound)
        try catalog.reader.read { c throws in
            let done = try c.jobs.jobs(of: run, state: .done)
            #expect(done.map(\.key) == ["a", "c"] && done.map(\.attempts) == [0, 1] && done.allSatisfy { $0.error == nil })
            let pending = try c.jobs.jobs(of: run, state: .pending)
            #expect(pending.map(\.key) == ["b"] && pending.first?.attempts == 2 && pending.first?.error == "busy again")
        }
    }

    @Test("runs: finishing with failures keeps the summary and the finish time", arguments: CatalogBackend.all)
    func finishFailed(_ backend: CatalogBackend) throws {
        let catalog = try backend.make()
        let run = try catalog.writer.transaction { tx throws in
            let run = try tx.runs.begin(stage: .generate, datasetID: nil, parentID: nil, config: "{}")
            try tx.runs.finishFailed(id: run, summary: #"{"failed":[1]}"#)
            return run
        }
        try catalog.reader.read { c throws in
            let record = try c.runs.requireRun(id: run)
            #expect(record.status == .failed && record.summary == #"{"failed":[1]}"# && record.finishedAt != nil)
        }
        #expect(code { try catalog.writer.transaction { try $0.runs.finishFailed(id: run, summary: "{}") } } == .conflict)
        #expect(code { try catalog.writer.transaction { try $0.runs.finishFailed(id: run + 1, summary: "{}") } } == .notFound)
        try catalog.writer.transaction { tx throws in
            try tx.runs.resume(id: run, parentID: nil)
            try tx.runs.finish(id: run, summary: "{}")
        }
        #expect(try catalog.reader.read { try $0.runs.requireRun(id: run).status } == .finished)
    }

    @Test("lineage: a real image's captions, prompts and synthetic images", arguments: CatalogBackend.all)
    func realLineage(_ backend: CatalogBackend) throws {
        let catalog = try backend.make()
        let f = try Self.captioned(catalog)
        let pets = f.pets
        let fake = try catalog.commitBlob(Array("synthetic".utf8), mediaType: "image/png")
        try catalog.writer.transaction { tx throws in
            let prompt = try tx.prompts.ensurePrompt(PromptRow(
                datasetID: pets.datasetID, classID: pets.cat.id, captionID: f.captions[0], strategy: "caption", template: "{caption}",
                text: "a cat", tokens: 2, tokenRule: "clip-words-v1", truncated: true, fullText: "a cat, longer"))
            let generator = try tx.synthetic.ensureGenerator(name: "sd", version: "1.5", params: "{}", backend: "builtin:test")
            try tx.synthetic.putSynthetic(SyntheticRow(blobID: try #require(try tx.snapshot.blobs.blob(fake)).id, promptID: prompt,
                                                       generatorID: generator, seed: 3, steps: 8, guidance: 2, width: 64, height: 32))
        }
        try catalog.reader.read { c throws in
            let real = try c.lineage.real(pets.images[0])
            #expect(real.count == 1)
            let image = try #require(real.first)
            #expect(image.dataset == "pets" && image.split == "train" && image.path == "train/cat/1.jpg")
            #expect(image.classWnid == "cat" && image.label == 0 && image.className == "house cat")
            #expect(image.captions.map(\.captioner) == ["blip"] && image.captions.map(\.text) == ["a cat \(f.images[0])"])
            let prompt = try #require(image.captions.first?.prompts.first)
            #expect(prompt.text == "a cat" && prompt.strategy == "caption" && prompt.template == "{caption}" && prompt.truncated)
            let made = try #require(prompt.synthetic.first)
            #expect(prompt.synthetic.count == 1 && made.digest == fake && made.seed == 3 && made.generator == "sd")
            #expect(made.generatorVersion == "1.5" && made.steps == 8 && made.guidance == 2 && made.width == 64 && made.height == 32)
            let dog = try c.lineage.real(pets.images[1])
            #expect(dog.map(\.path) == ["train/dog/2.jpg"] && dog.first?.captions.isEmpty == true)
            #expect(try c.lineage.real(fake).isEmpty)
        }
    }
}
