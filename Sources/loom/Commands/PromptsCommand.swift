import ArgumentParser
import LoomIngest
import LoomPipeline
import LoomStore

struct PromptsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prompts",
        abstract: "Make the prompts of one strategy for a dataset.",
        discussion: """
            Strategies: class-name ("tench"), template ("a photo of a {class}", or --template), caption
            (the caption alone), class-caption ("{class}, {caption}", the paper's), paper-class and
            paper-caption (its released code: "a photo of {class}" and "a photo of {class}, {caption}"),
            or any new name with --template using {class} and {caption}. Prompts are cut at the text
            encoder's limit by the documented clip-words-v1 rule; the row records the cut and the full text.
            """)

    @OptionGroup var options: StoreOptions

    @Option(help: "Dataset name.")
    var dataset: String

    @Option(help: "Strategy name.")
    var strategy: String

    @Option(help: "Template with {class} and/or {caption} (required for a new strategy name).")
    var template: String?

    @Option(name: .customLong("class-names"), help: "Class-name map (LOC_synset_mapping.txt form) overriding the catalog's prompt names.")
    var classNames: String?

    @Option(help: "Whose captions, when the dataset has several captioners.")
    var captioner: String?

    @Option(help: "Use only the captions of this split's images (keep validation captions out of training prompts).")
    var split: String?

    func run() throws {
        let chosen = try PromptStrategy(name: strategy, template: template)
        let names = try classNames.map { path in
            Dictionary(try ClassNamesFile(path: path).names.map { ($0.key, $0.value.promptName) }) { first, _ in first }
        } ?? [:]
        let writer = try options.openReadWrite().makeWriter()
        let summary = try PromptBuilder.run(writer: writer, dataset: dataset, strategy: chosen, classNames: names, captioner: captioner,
                                            split: split)
        if options.json { return try Output.json(summary) }
        Output.stderr("prompts \(summary.strategy) (\(summary.template)): \(summary.created) created, \(summary.existing) existing, \(summary.truncated) cut to the token limit")
    }
}
