import Foundation
import LoomImage
import LoomLoader
import LoomStore

/// `loom bench loader --catalog-rows N`: the loader on a catalog of N rows against one of the
/// baseline's, both over the same few thousand blobs, each run in a child process so that its
/// peak RSS is its own. Each catalog is loaded twice: first from the catalog (which saves the
/// sample table), then from the saved table, what every later run at the same catalog gets.
struct CatalogRowsBench {
    let command: BenchLoaderCommand
    let rows: Int

    struct Load: Encodable {
        var table_ms: Double
        /// Table load plus the first batch: what a trainer waits before its first step.
        var first_batch_ms: Double
        var peak_rss_mb: Double
        var peak_anon_rss_mb: Double
        var images_per_s: Double
        var table_mapped: Bool
    }

    struct Case: Encodable {
        var rows: Int
        var build_s: Double
        /// The first load: the sample query over the catalog, then the table saved.
        var from_catalog: Load
        /// The next load: the saved table mapped.
        var from_saved: Load
    }

    struct Report: Encodable {
        var selection: String
        var distinct_blobs: Int
        var batches: Int
        var cases: [Case]
        /// N rows against the baseline's, loading the saved table.
        var first_batch_ratio: Double
        var rss_ratio: Double
        var anon_rss_ratio: Double
        /// The same, for the first load from the catalog.
        var from_catalog_first_batch_ratio: Double
        var from_catalog_rss_ratio: Double
        var from_catalog_anon_rss_ratio: Double
    }

    func run() throws {
        guard rows > command.baselineRows, command.baselineRows > 0 else {
            throw StoreError(.invalidArgument, "--catalog-rows (\(rows)) must be above --baseline-rows (\(command.baselineRows))")
        }
        let blobs = try sourceBlobs()
        let batches = command.maxBatches ?? 20
        var cases: [Case] = []
        for count in [command.baselineRows, rows] {
            let layout = StoreLayout(root: command.scratch + "/rows-\(count)")
            try? FileManager.default.removeItem(atPath: layout.root)
            let line = ProgressLine("bench catalog of \(count) rows")
            let start = ContinuousClock.now
            try LoaderBenchCatalog.build(layout, blobs: blobs, rows: count, classes: 100) { line.update(done: $0, total: count, unit: "row") }
            line.finish()
            let built = (ContinuousClock.now - start) / .seconds(1)
            let first = try measure(layout, batches: batches), second = try measure(layout, batches: batches)
            guard !first.table_mapped, second.table_mapped else {
                throw StoreError(.io, "bench catalog of \(count) rows: expected the first load from the catalog and the second from the saved table (mapped: \(first.table_mapped), \(second.table_mapped))")
            }
            cases.append(Case(rows: count, build_s: built, from_catalog: Load(first), from_saved: Load(second)))
        }
        func ratio(_ value: (Case) -> Double) -> Double { value(cases[1]) / max(value(cases[0]), 1e-9) }
        let report = Report(selection: try command.selection.resolve().description, distinct_blobs: blobs.count, batches: batches,
                            cases: cases, first_batch_ratio: ratio(\.from_saved.first_batch_ms), rss_ratio: ratio(\.from_saved.peak_rss_mb),
                            anon_rss_ratio: ratio(\.from_saved.peak_anon_rss_mb),
                            from_catalog_first_batch_ratio: ratio(\.from_catalog.first_batch_ms),
                            from_catalog_rss_ratio: ratio(\.from_catalog.peak_rss_mb),
                            from_catalog_anon_rss_ratio: ratio(\.from_catalog.peak_anon_rss_mb))
        if command.options.json { return try Output.json(report) }
        Output.stdout("catalog rows over \(blobs.count) blobs of \(report.selection), \(batches) batches of \(command.batching.batch) each:")
        for c in cases {
            for (name, load) in [("from catalog", c.from_catalog), ("saved table ", c.from_saved)] {
                Output.stdout(String(format: "  %9d rows, \(name): sample table %6.1f ms, first batch after %6.0f ms, peak RSS %5.0f MB (anonymous %5.0f MB), %5.0f img/s",
                                     c.rows, load.table_ms, load.first_batch_ms, load.peak_rss_mb, load.peak_anon_rss_mb, load.images_per_s))
            }
            Output.stdout(String(format: "  %9d rows: catalog built in %.1f s", c.rows, c.build_s))
        }
        Output.stdout(String(format: "  %d rows / %d rows: first batch %.2fx, peak RSS %.2fx, anonymous %.2fx (saved table); %.2fx, %.2fx, %.2fx (from catalog)",
                             rows, command.baselineRows, report.first_batch_ratio, report.rss_ratio, report.anon_rss_ratio,
                             report.from_catalog_first_batch_ratio, report.from_catalog_rss_ratio, report.from_catalog_anon_rss_ratio))
    }

    /// Up to --distinct real images of the selection, read once from the store.
    private func sourceBlobs() throws -> [LoaderBenchCatalog.Blob] {
        let store = try command.options.openReadOnly()
        var entries: [RealImageEntry] = []
        for component in try command.selection.resolve().components {
            guard case .real(let split) = component.source else { continue }
            try RealImageListing.forEach(store, dataset: component.dataset, split: split) { entry in
                if entries.count < command.distinct { entries.append(entry) }
            }
        }
        guard !entries.isEmpty else { throw StoreError(.notFound, "the selection holds no real images to build the bench catalog from") }
        return try entries.map { entry in
            guard let digest = Digest(hex: entry.digest) else { throw StoreError(.corrupt, "bad digest for \(entry.path)") }
            let format = ImageFormat(rawValue: entry.format) ?? .jpeg
            return LoaderBenchCatalog.Blob(bytes: try store.blobs.read(digest: digest), digest: digest, mediaType: format.mediaType,
                                           width: entry.width, height: entry.height, format: entry.format)
        }
    }

    /// This binary's `bench loader` on the scratch store, in a child process.
    private func measure(_ layout: StoreLayout, batches: Int) throws -> BenchLoaderCommand.Report {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        let b = command.batching
        process.arguments = ["bench", "loader", "--store", layout.root, "--selection", "bench:train", "--epochs", "1",
                             "--max-batches", "\(batches)", "--batch", "\(b.batch)", "--size", "\(b.size)",
                             "--augment", b.augment.rawValue, "--workers", "\(b.workers)", "--seed", "\(command.seed)", "--json"]
            + (b.noCache ? ["--no-cache"] : [])
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw StoreError(.io, "bench loader on \(layout.root) exited with status \(process.terminationStatus)")
        }
        return try JSONDecoder().decode(BenchLoaderCommand.Report.self, from: data)
    }
}

extension CatalogRowsBench.Load {
    init(_ child: BenchLoaderCommand.Report) {
        self.init(table_ms: child.table_ms, first_batch_ms: child.table_ms + (child.epochs.first?.first_batch_ms ?? 0),
                  peak_rss_mb: child.peak_rss_mb, peak_anon_rss_mb: child.peak_anon_rss_mb, images_per_s: child.epochs.first?.images_per_s ?? 0, table_mapped: child.table_mapped)
    }
}
