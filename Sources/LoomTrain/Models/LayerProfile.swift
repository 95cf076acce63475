import Foundation

/// Wall time per top-level layer, forward and backward, accumulated over steps: how
/// `loom bench train --layers` shows where a step goes (perf does not work everywhere).
public final class LayerProfile {
    public struct Entry: Sendable, Hashable {
        public var layer: String
        public var forwardSeconds: Double
        public var backwardSeconds: Double
    }

    public private(set) var entries: [Entry] = []

    public init() {}

    public func reset() {
        for i in entries.indices {
            entries[i].forwardSeconds = 0
            entries[i].backwardSeconds = 0
        }
    }

    func record(_ index: Int, layer: @autoclosure () -> String, forward: Double = 0, backward: Double = 0) {
        while entries.count <= index { entries.append(Entry(layer: "", forwardSeconds: 0, backwardSeconds: 0)) }
        if entries[index].layer.isEmpty { entries[index].layer = layer() }
        entries[index].forwardSeconds += forward
        entries[index].backwardSeconds += backward
    }

    /// One line per layer: mean milliseconds per step forward and backward, and the share of the total.
    public func table(steps: Int) -> String {
        let total = entries.reduce(0) { $0 + $1.forwardSeconds + $1.backwardSeconds }
        let perStep = 1000 / Double(max(steps, 1))
        func pad(_ text: String) -> String { text.padding(toLength: max(28, text.count), withPad: " ", startingAt: 0) }
        var lines = ["  " + pad("layer") + "     fwd ms     bwd ms   share"]
        for e in entries {
            lines.append("  " + pad(e.layer) + String(format: " %10.2f %10.2f %6.1f%%", e.forwardSeconds * perStep, e.backwardSeconds * perStep,
                                                      100 * (e.forwardSeconds + e.backwardSeconds) / max(total, 1e-12)))
        }
        lines.append("  " + pad("layers total") + String(format: " %21.2f", total * perStep))
        return lines.joined(separator: "\n")
    }
}
