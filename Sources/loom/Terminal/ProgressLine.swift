import Foundation
import Glibc

/// A one-line progress display on stderr: count, rate, ETA.
///
/// Shown only when stderr is a terminal and `$CI` is unset, so pipes, logs and CI stay clean.
/// Redraws at most ten times a second; the hot loop can call ``update(done:total:)`` per item.
final class ProgressLine {
    private let label: String
    private let enabled: Bool
    private let start = ContinuousClock.now
    private var lastDraw = ContinuousClock.now - .seconds(1)
    private var drew = false
    /// Shown after the ETA from the next redraw on (per-worker rates of a multi-worker run).
    var note = ""

    init(_ label: String) {
        self.label = label
        let ci = ProcessInfo.processInfo.environment["CI"].map { !$0.isEmpty && $0 != "false" } ?? false
        enabled = isatty(STDERR_FILENO) == 1 && !ci
    }

    func update(done: Int, total: Int, unit: String = "img") {
        guard enabled else { return }
        let now = ContinuousClock.now
        guard now - lastDraw >= .milliseconds(100) || done == total else { return }
        lastDraw = now
        let elapsed = (now - start) / .seconds(1)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let eta = rate > 0 && total > done ? Self.clock(Double(total - done) / rate) : "--:--"
        let percent = total > 0 ? Double(done) * 100 / Double(total) : 100
        let line = String(format: "%@ %d/%d (%.0f%%)  %.0f %@/s  ETA %@", label, done, total, percent, rate, unit, eta) + note
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
        drew = true
    }

    /// Clears the line so the summary that follows starts clean.
    func finish() {
        guard enabled, drew else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}
