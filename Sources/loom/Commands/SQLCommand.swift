import ArgumentParser
import Foundation
import LoomStore

struct SQLCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sql",
        abstract: "Run one read-only SQL statement over the catalog.",
        discussion: """
            The catalog is opened read-only and statements that would write are refused. Views for
            people: v_real_images (dataset, split, class, digest, path, size) and v_lineage (one row per
            synthetic image: digest, strategy, prompt, caption, captioner, real_digest, real_path, class,
            dataset, generator, seed, steps, guidance, size). Tables: datasets, splits, classes,
            real_images, blobs, shards, runs, jobs, pixel_cache, captioners, captions, prompts,
            generators, synthetic_images, train_epochs, checkpoints, run_samples (the exact images a
            training run used), eval_classes (schema/*.sql documents every column).
            Text output is tab-separated with a header line; --json prints one object per row.
            """)

    @OptionGroup var options: StoreOptions

    @Argument(help: "The SQL statement.")
    var sql: String

    func run() throws {
        let store = try options.openReadOnly()
        var names: [String] = []
        var text = ""
        try ReadOnlyQuery.run(store, sql: sql, columns: { columns in
            names = columns
            if !options.json { text += columns.joined(separator: "\t") + "\n" }
        }, row: { values in
            if options.json {
                let object = Dictionary(uniqueKeysWithValues: zip(names, values).map { ($0, $1) })
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                var data = try encoder.encode(object)
                data.append(0x0A)
                FileHandle.standardOutput.write(data)
            } else {
                text += values.map(\.description).joined(separator: "\t") + "\n"
                if text.utf8.count > 1 << 16 { Output.write(text); text = "" }
            }
        })
        if !options.json { Output.write(text) }
    }
}
