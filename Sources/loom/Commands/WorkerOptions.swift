import Foundation
import ArgumentParser
import LoomPipeline

/// `--workers` and `--devices`, shared by the stages that call a model backend.
struct WorkerOptions: ParsableArguments {
    @Option(help: "Model workers to run at once (process: workers, or concurrent http: clients); batches go to whichever is free.")
    var workers: Int?

    @Option(help: "One process: worker per device, e.g. cuda:0,cuda:1: each gets {device} in its command (cuda:0, the one GPU it sees) and CUDA_VISIBLE_DEVICES=N.")
    var devices: String?

    @Option(help: ArgumentHelp(
        "Seconds a worker's claim on jobs holds on a fleet store without renewal (renewed every third of it while the worker lives).",
        discussion: "A killed or cut-off worker's jobs go back to the queue this long after its last renewal, and another worker finishes them."))
    var lease = 300.0

    /// `--lease` as a duration, refused below a tenth of a second or above a day.
    func leaseDuration() throws -> Duration {
        guard lease.isFinite, lease >= 0.1, lease <= 86_400 else {
            throw ValidationError("--lease must be between 0.1 and 86400 seconds, not \(lease)")
        }
        return .milliseconds(Int64((lease * 1000).rounded()))
    }

    func fanout() throws -> Fanout {
        do {
            return try Fanout(workers: workers, devices: devices)
        } catch {
            throw ValidationError("\(error)")
        }
    }
}

/// The progress line's tail for a run with more than one worker: each one's rate.
func workerRates(_ reports: [WorkerReport]) -> String {
    guard reports.count > 1 else { return "" }
    return "  [" + reports.enumerated().map { index, report in
        "\(report.device ?? "w\(index + 1)") \(String(format: "%.1f", report.itemsPerSecond))/s"
    }.joined(separator: " ") + "]"
}
