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
            Text output is tab-separated with a header line; --json prints one object per row (a
            repeated column name keeps its last value). Reads only the catalog's own tables and views:
            ATTACH, writes, transactions, most pragmas and fts3_tokenizer/load_extension are refused.
            A statement stops after --sql-timeout seconds of work inside SQLite.
            """)

    @OptionGroup var options: StoreOptions

    @Option(name: .customLong("sql-timeout"), help: "Seconds the statement may run before it is stopped.")
    var sqlTimeout = SQLTimeout.defaultSeconds

    @Argument(help: "The SQL statement.")
    var sql: String

    func validate() throws { try SQLTimeout.validate(sqlTimeout) }

    func run() throws {
        let store = try options.openReadOnly()
        var names: [String] = []
        var text = ""
        let encoder = CanonicalJSON.encoder()
        try ReadOnlyQuery.run(store, sql: sql, timeout: .seconds(sqlTimeout), columns: { columns in
            names = columns
            if !options.json { text += columns.joined(separator: "\t") + "\n" }
        }, row: { values in
            if options.json {
                let object = Dictionary(zip(names, values).map { ($0, $1) }, uniquingKeysWith: { _, new in new })
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

/// `--sql-timeout` of `loom sql` and `loom serve`.
enum SQLTimeout {
    static let defaultSeconds = Double(ReadOnlyQuery.defaultTimeout.components.seconds)

    static func validate(_ seconds: Double) throws {
        guard seconds.isFinite, seconds > 0, seconds <= 86_400 else {
            throw ValidationError("--sql-timeout must be a number of seconds above 0 and at most 86400")
        }
    }
}
