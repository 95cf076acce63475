import ArgumentParser
import Foundation
import LoomImage
import LoomIngest
import LoomStore

struct BenchIngestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Ingest a folder into a scratch store; print img/s and MB/s beside SHA-256 and decode-only yardsticks.",
        discussion: """
            Yardsticks, on the same files, in the same run, on the same number of threads: SHA-256 of
            every file (OpenSSL, in memory), `sha256sum` over the files (one process, one core), and
            the libjpeg-turbo decode-only rate at the DCT scale ingest validates with. Files are read
            once first so every measurement starts from the page cache. Build with -c release.
            """)

    @Argument(help: "Dataset folder (any layout ingest accepts).")
    var root: String

    @Option(help: "Threads (default: all cores).")
    var workers: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Ingest runs; the best is reported.")
    var repeats: Int = 2

    @Flag(help: "Print JSON to stdout.")
    var json = false

    struct Rate: Codable {
        var seconds: Double
        var images_per_s: Double
        var mb_per_s: Double
    }

    struct Report: Codable {
        var files: Int
        var megabytes: Double
        var workers: Int
        var sha256: Rate
        var sha256sum_tool: Rate?
        var decode_only: Rate
        var decode_scale: String
        var ingest: Rate
        var ingest_vs_decode: Double
        var lz4_ratio: Double
        var rejected: Int
    }

    func run() throws {
        let scan = try DatasetScanner(root: root, split: nil).scan()
        let paths = scan.files.map(\.absolutePath)
        guard !paths.isEmpty else { throw ValidationError("no files under \(root)") }
        let contents = try paths.map { path -> [UInt8] in
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
            return [UInt8](data)
        }
        let totalBytes = contents.reduce(0) { $0 + $1.count }
        let megabytes = Double(totalBytes) / 1e6
        func rate(_ seconds: Double) -> Rate {
            Rate(seconds: seconds, images_per_s: Double(paths.count) / seconds, mb_per_s: megabytes / seconds)
        }

        let shaSeconds = timedParallel(count: contents.count, workers: workers, makeState: { 0 }) { _, i in
            _ = Digest.sha256(contents[i])
        }
        let toolSeconds = try? sha256sumSeconds(paths)
        let decodeSeconds = timedParallel(count: contents.count, workers: workers, makeState: { try? ImageValidator() }) { validator, i in
            _ = contents[i].withUnsafeBytes { try? validator?.validate($0) }
        }
        let compressed = contents.prefix(200).reduce(0) { sum, bytes in
            sum + ((try? bytes.withUnsafeBytes { try BlobCodec.compressFrame($0) }.count) ?? bytes.count)
        }
        let sampled = contents.prefix(200).reduce(0) { $0 + $1.count }

        var best = Double.infinity
        var rejected = 0
        for _ in 0..<max(1, repeats) {
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("loom-bench-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            let store = try Store(StoreLayout(root: scratch), access: .readWrite)
            let summary = try Ingestor(store: store, options: .init(dataset: "bench", workers: workers)).run(root: root)
            best = min(best, summary.seconds)
            rejected = summary.rejected.count
        }

        let report = Report(
            files: paths.count, megabytes: megabytes, workers: workers, sha256: rate(shaSeconds),
            sha256sum_tool: toolSeconds.map(rate), decode_only: rate(decodeSeconds),
            decode_scale: (JPEGScale.supported.first ?? .full).description, ingest: rate(best),
            ingest_vs_decode: decodeSeconds / best, lz4_ratio: Double(sampled) / Double(max(1, compressed)), rejected: rejected)
        if json { return try Output.json(report) }
        Output.stdout(String(format: "%d files, %.1f MB, %d threads", paths.count, megabytes, workers))
        func line(_ name: String, _ r: Rate) {
            let padded = name.count < 32 ? name + String(repeating: " ", count: 32 - name.count) : name
            Output.stdout("  " + padded + String(format: "%9.0f img/s %9.1f MB/s", r.images_per_s, r.mb_per_s))
        }
        line("sha256 (OpenSSL, all threads)", report.sha256)
        if let tool = report.sha256sum_tool { line("sha256sum (1 process)", tool) }
        line("decode only (\(report.decode_scale) scale)", report.decode_only)
        line("loom ingest", report.ingest)
        Output.stdout(String(format: "  ingest / decode-only = %.2f   (LZ4 ratio on these files: %.3f)", report.ingest_vs_decode, report.lz4_ratio))
    }

    /// Runs `sha256sum` over the files (xargs-style batches) and returns the wall time.
    private func sha256sumSeconds(_ paths: [String]) throws -> Double {
        let start = ContinuousClock.now
        for chunk in stride(from: 0, to: paths.count, by: 1000).map({ Array(paths[$0..<min($0 + 1000, paths.count)]) }) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
            process.arguments = chunk
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
        }
        let elapsed = ContinuousClock.now - start
        return elapsed / .seconds(1)
    }
}
