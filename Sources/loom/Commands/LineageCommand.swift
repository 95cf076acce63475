import ArgumentParser
import Foundation
import LoomPipeline
import LoomStore

struct LineageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lineage",
        abstract: "Where a synthetic image came from, or everything made from a real image.",
        discussion: """
            For a synthetic image: its prompt, the caption and captioner behind it, the real image the
            caption describes, its class and dataset, and the generator settings. For a real image: its
            captions, the prompts made from each, and the synthetic images each prompt produced.
            """)

    @OptionGroup var options: StoreOptions

    @Argument(help: "Digest, or a unique prefix of at least 4 hex digits.")
    var digest: String

    func run() throws {
        let store = try options.openReadOnly()
        let result = try Lineage.lookup(store, digest)
        if options.json { return try Output.json(result) }
        switch result {
        case .synthetic(let s):
            Output.stdout("synthetic \(s.digest)")
            Output.stdout("  prompt     \(s.prompt.text)")
            Output.stdout("             strategy \(s.prompt.strategy), template \"\(s.prompt.template)\"\(s.prompt.truncated ? ", cut to the token limit" : "")")
            if let caption = s.caption {
                Output.stdout("  caption    \(caption.text)")
                Output.stdout("             by \(caption.captioner)")
            } else {
                Output.stdout("  caption    none (class-name prompt)")
            }
            if let real = s.real { Output.stdout("  real       \(real.digest)  \(real.split)  \(real.path)") }
            Output.stdout("  class      \(s.class.wnid) (label \(s.class.label)) \(s.class.name)")
            Output.stdout("  dataset    \(s.dataset)")
            let version = s.generator.version.isEmpty ? "" : " \(s.generator.version)"
            Output.stdout("  generator  \(s.generator.name)\(version): seed \(s.seed), \(s.steps) steps, guidance \(s.guidance), \(s.width)x\(s.height)")
        case .real(let r):
            Output.stdout("real \(r.digest)")
            for image in r.images {
                Output.stdout("  \(image.dataset)  \(image.split)  \(image.path)  class \(image.class.wnid) (label \(image.class.label)) \(image.class.name)")
            }
            if r.captions.isEmpty { Output.stdout("  no captions yet") }
            for caption in r.captions {
                Output.stdout("  caption by \(caption.captioner): \(caption.text)")
                if caption.prompts.isEmpty { Output.stdout("    no prompts yet") }
                for prompt in caption.prompts {
                    Output.stdout("    prompt [\(prompt.strategy)] \(prompt.text)\(prompt.truncated ? " (cut)" : "")")
                    if prompt.synthetic.isEmpty { Output.stdout("      no synthetic images yet") }
                    for s in prompt.synthetic {
                        Output.stdout("      \(s.digest)  \(s.generator) seed \(s.seed)")
                    }
                }
            }
        }
    }
}
