import Foundation
import LoomStore
import LoomTrain

/// The files of an experiment's report, in `reports/<name>/`:
/// - `report.md`: the table (strategy, train images, epochs, top-1, top-5, time), per-class
///   accuracy, the config, and the chart;
/// - `report.json`: the whole summary (what `loom experiment --json` prints);
/// - `report.svg`: final accuracy per model and the eval top-1 curves;
/// - `per_class.csv`: one row per (model, class).
/// Files are written to a temporary name and renamed, so a reader never sees half a report.
public enum ExperimentReport {
    public static let files = ["report.md", "report.json", "report.svg", "per_class.csv"]

    /// Writes the report and returns its folder.
    public static func write(_ summary: ExperimentSummary, to reportsDirectory: String) throws -> String {
        let folder = URL(fileURLWithPath: reportsDirectory).appendingPathComponent(summary.name)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var withPath = summary
        withPath.reportDirectory = folder.path
        try save(CanonicalJSON.data(withPath, pretty: true), folder, "report.json")
        try save(Data(ReportChart.svg(withPath).utf8), folder, "report.svg")
        try save(Data(markdown(withPath).utf8), folder, "report.md")
        try save(Data(perClassCSV(withPath).utf8), folder, "per_class.csv")
        return folder.path
    }

    static func save(_ data: Data, _ folder: URL, _ name: String) throws {
        let target = folder.appendingPathComponent(name)
        let temporary = folder.appendingPathComponent(".\(name).tmp")
        try data.write(to: temporary)
        if FileManager.default.fileExists(atPath: target.path) { try FileManager.default.removeItem(at: target) }
        try FileManager.default.moveItem(at: temporary, to: target)
    }

    static func percent(_ value: Double?) -> String { value.map { String(format: "%.1f", $0 * 100) } ?? "-" }

    /// The results table, as text columns (the CLI prints it too).
    public static func table(_ summary: ExperimentSummary) -> String {
        let header = ["model", "train images", "epochs", "top-1 %", "top-5 %", "time s", "run"]
        let rows = summary.results.map { r in
            [r.label, "\(r.summary.trainImages)", "\(r.summary.epochs)", percent(r.summary.evalTop1), percent(r.summary.evalTop5),
             String(format: "%.1f", r.summary.seconds), "\(r.summary.runID)" + (r.summary.reused ? " (reused)" : "")]
        }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == 0 ? cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
                           : String(repeating: " ", count: widths[index] - cell.count) + cell
            }.joined(separator: "  ")
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }

    static func markdown(_ s: ExperimentSummary) -> String {
        var md = "# Experiment \(s.name): \(s.dataset)\n\n"
        md += "Run \(s.runID). Models trained on synthetic images only (one per prompt strategy)"
        md += s.config.realBaseline ? ", plus a real-data baseline (`real`)" : ""
        md += "; every model evaluated on the real `\(s.config.evalSplit)` split.\n\n"
        md += "Captioner `\(s.config.captioner)`, generator `\(s.config.generator)`"
        if s.config.captioner.hasPrefix("builtin:") || s.config.generator.hasPrefix("builtin:") {
            md += " — built-in offline stand-ins, not BLIP-2 and Stable Diffusion: these numbers test the pipeline, not the paper's claim"
        }
        md += ".\n\n"
        md += "| model | selection | train images | epochs | top-1 % | top-5 % | time s | run |\n|---|---|---:|---:|---:|---:|---:|---:|\n"
        for r in s.results {
            md += "| \(r.label) | `\(r.selection)` | \(r.summary.trainImages) | \(r.summary.epochs) | \(percent(r.summary.evalTop1)) | "
            md += "\(percent(r.summary.evalTop5)) | \(String(format: "%.1f", r.summary.seconds)) | \(r.summary.runID) |\n"
        }
        md += "\n![accuracy](report.svg)\n\n## Per-class top-1 %\n\n"
        let classes = s.results.first?.summary.perClass.map(\.name) ?? []
        md += "| class | " + s.results.map(\.label).joined(separator: " | ") + " |\n"
        md += "|---|" + String(repeating: "---:|", count: s.results.count) + "\n"
        for (index, name) in classes.enumerated() {
            let cells = s.results.map { r in index < r.summary.perClass.count ? percent(r.summary.perClass[index].top1) : "-" }
            md += "| \(name) | " + cells.joined(separator: " | ") + " |\n"
        }
        let config = (try? CanonicalJSON.text(s.config, pretty: true)) ?? "{}"
        md += "\n## Config\n\n```json\n\(config)\n```\n\nBLAS: \(s.results.first?.summary.blasKernel ?? "-"). "
        md += "Total time \(String(format: "%.1f", s.seconds)) s.\n"
        return md
    }

    static func perClassCSV(_ s: ExperimentSummary) -> String {
        var csv = "model,label,class,correct,total,top1\n"
        for r in s.results {
            for c in r.summary.perClass {
                let name = c.name.contains(",") || c.name.contains("\"") ? "\"\(c.name.replacingOccurrences(of: "\"", with: "\"\""))\"" : c.name
                csv += "\(r.label),\(c.label),\(name),\(c.correct),\(c.total),\(String(format: "%.4f", c.top1))\n"
            }
        }
        return csv
    }
}
