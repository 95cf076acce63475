import Foundation
import LoomTrain

/// The report's chart as SVG, written directly (nothing beyond the project's own setup is needed
/// to plot, and every browser and Markdown viewer shows it). Left: final top-1 and top-5 per
/// model; right: evaluation top-1 after each epoch.
enum ReportChart {
    static let palette = ["#4269d0", "#efb118", "#ff725c", "#6cc5b0", "#3ca951", "#ff8ab7", "#a463f2", "#97bbf5"]
    static let width = 900.0, height = 380.0
    static let top = 50.0, bottom = 320.0  // plot area, shared by both panels

    static func svg(_ summary: ExperimentSummary) -> String {
        var out = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" \
            font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="20" y="24" font-size="15" font-weight="bold">\(escape("\(summary.name): \(summary.dataset), evaluated on real \(summary.config.evalSplit)"))</text>

            """
        out += bars(summary.results, left: 60, right: 420)
        out += curves(summary.results, left: 500, right: 880)
        out += "</svg>\n"
        return out
    }

    static func y(_ fraction: Double) -> Double { bottom - (bottom - top) * min(1, max(0, fraction)) }

    static func axis(left: Double, right: Double, label: String) -> String {
        var out = ""
        for tick in stride(from: 0, through: 100, by: 25) {
            let ty = y(Double(tick) / 100)
            out += "<line x1=\"\(left)\" y1=\"\(ty)\" x2=\"\(right)\" y2=\"\(ty)\" stroke=\"#ddd\"/>\n"
            out += "<text x=\"\(left - 6)\" y=\"\(ty + 4)\" text-anchor=\"end\" fill=\"#555\">\(tick)</text>\n"
        }
        out += "<text x=\"\(left - 40)\" y=\"\((top + bottom) / 2)\" transform=\"rotate(-90 \(left - 40) \((top + bottom) / 2))\" "
        out += "text-anchor=\"middle\" fill=\"#333\">\(escape(label))</text>\n"
        return out
    }

    static func bars(_ results: [ModelResult], left: Double, right: Double) -> String {
        var out = "<g class=\"bars\">\n" + axis(left: left, right: right, label: "accuracy % (final)")
        let slot = (right - left) / Double(max(results.count, 1))
        let barWidth = min(36, slot * 0.35)
        for (index, result) in results.enumerated() {
            let center = left + slot * (Double(index) + 0.5)
            let color = palette[index % palette.count]
            for (offset, value, opacity, name) in [(-barWidth / 2 - 1, result.summary.evalTop1, 1.0, "top-1"),
                                                   (barWidth / 2 + 1, result.summary.evalTop5, 0.45, "top-5")] {
                guard let value else { continue }
                let x = center + offset - barWidth / 2
                out += "<rect x=\"\(x)\" y=\(q(y(value))) width=\"\(barWidth)\" height=\(q(bottom - y(value))) fill=\"\(color)\" "
                out += "fill-opacity=\"\(opacity)\"><title>\(escape("\(result.label) \(name) \(String(format: "%.1f", value * 100))%"))</title></rect>\n"
                out += "<text x=\(q(x + barWidth / 2)) y=\(q(y(value) - 4)) text-anchor=\"middle\" font-size=\"10\">\(String(format: "%.1f", value * 100))</text>\n"
            }
            out += "<text x=\(q(center)) y=\"\(bottom + 16)\" text-anchor=\"middle\">\(escape(result.label))</text>\n"
        }
        out += "<text x=\(q((left + right) / 2)) y=\"\(bottom + 36)\" text-anchor=\"middle\" fill=\"#555\">solid: top-1, light: top-5</text>\n"
        return out + "</g>\n"
    }

    static func curves(_ results: [ModelResult], left: Double, right: Double) -> String {
        var out = "<g class=\"curves\">\n" + axis(left: left, right: right, label: "eval top-1 % per epoch")
        let epochs = max(1, results.flatMap { $0.history.map(\.epoch) }.max() ?? 1)
        func x(_ epoch: Int) -> Double { epochs == 1 ? (left + right) / 2 : left + (right - left) * Double(epoch - 1) / Double(epochs - 1) }
        for epoch in 1...epochs where epochs <= 20 || epoch % max(1, epochs / 10) == 0 {
            out += "<text x=\(q(x(epoch))) y=\"\(bottom + 16)\" text-anchor=\"middle\" fill=\"#555\">\(epoch)</text>\n"
        }
        out += "<text x=\(q((left + right) / 2)) y=\"\(bottom + 36)\" text-anchor=\"middle\" fill=\"#555\">epoch</text>\n"
        for (index, result) in results.enumerated() {
            let color = palette[index % palette.count]
            let points = result.history.compactMap { p in p.evalTop1.map { (x(p.epoch), y($0)) } }
            if points.count > 1 {
                let path = points.map { String(format: "%.1f,%.1f", $0.0, $0.1) }.joined(separator: " ")
                out += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
            }
            for point in points {
                out += "<circle cx=\(q(point.0)) cy=\(q(point.1)) r=\"3\" fill=\"\(color)\"/>\n"
            }
            let legendY = top + 4 + 16 * Double(index)
            out += "<rect x=\"\(right - 110)\" y=\"\(legendY - 9)\" width=\"10\" height=\"10\" fill=\"\(color)\"/>"
            out += "<text x=\"\(right - 95)\" y=\"\(legendY)\">\(escape(result.label))</text>\n"
        }
        return out + "</g>\n"
    }

    static func q(_ value: Double) -> String { String(format: "\"%.1f\"", value) }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
