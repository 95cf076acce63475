import LoomLoader
import LoomPipeline
import LoomStore
import LoomTestSupport
import Testing

@Suite("Synthetic selections")
struct SyntheticSelectionTests {
    @Test func parsesRealSyntheticAndWeightedMixtures() throws {
        let selection = try Selection(parsing: "ds:synthetic:class-caption*3+ds:train")
        #expect(selection.components == [
            Selection.Component(dataset: "ds", source: .synthetic(strategy: "class-caption"), weight: 3),
            Selection.Component(dataset: "ds", source: .real(split: "train")),
        ])
        #expect(selection.description == "ds:synthetic:class-caption*3.0+ds:train")
        for bad in ["ds", "ds:", "ds:other:x", "ds:synthetic:", "ds:synthetic:a:b", ":train", "ds:train*0", "ds:train*x"] {
            #expect(throws: LoaderError.self, "\(bad)") { try Selection(parsing: bad) }
        }
    }

    @Test func loadsGeneratedImagesWithTheirPromptsClasses() throws {
        let data = try ColorDataset(train: 3, val: 1, side: 16)
        let writer = try data.store.makeWriter()
        _ = try PromptBuilder.run(writer: writer, dataset: "ds", strategy: PromptStrategy(name: "class-name"))
        #expect(throws: LoaderError.self) { try SampleTable.load(data.store, selection: Selection(parsing: "ds:synthetic:class-name")) }
        let generated = try GenerateRun.run(writer: writer, dataset: "ds", generator: try Backends.generator("builtin:procedural"),
                                            options: .init(strategy: "class-name", perPrompt: 3, seed: 1, width: 20, height: 20))
        #expect(generated.generated == 6)

        let table = try SampleTable.load(data.store, selection: Selection(parsing: "ds:synthetic:class-name"))
        #expect(table.count == 6)
        #expect(table.labels.sorted() == [0, 0, 0, 1, 1, 1])
        #expect(table.classNames == ["n01", "n02"])
        // Each sample is a synthetic image whose prompt belongs to the labelled class.
        let expected = try data.store.read { catalog in
            var images: [(Int64, Int32)] = []
            try catalog.lineage.forEachSynthetic(LineageFilter()) { image in
                images.append((try #require(try catalog.blobs.blob(image.digest)).id, Int32(image.label)))
            }
            return images
        }
        #expect(Array(table.blobIDs) == expected.map(\.0) && Array(table.labels) == expected.map(\.1))

        var ocean = try Selection(parsing: "ds:synthetic:class-name")
        ocean.components[0].classes = ["ocean"]
        #expect(Array(try SampleTable.load(data.store, selection: ocean).labels) == [1, 1, 1])

        let mixture = try SampleTable.load(data.store, selection: Selection(parsing: "ds:train*2+ds:synthetic:class-name"))
        #expect(mixture.count == 6 + 6 && mixture.components.map(\.range) == [0..<6, 6..<12])
        #expect(mixture.components.map(\.weight) == [2, 1])
    }
}
