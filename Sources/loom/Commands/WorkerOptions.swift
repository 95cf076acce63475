import Foundation
import ArgumentParser
import LoomPipeline

/// `--workers` and `--devices`, shared by the stages that call a model backend.
struct WorkerOptions: ParsableArguments {
    @Option(help: "Model workers to run at once (process: workers, or concurrent http: clients); batches go to whichever is free.")
    var workers: Int?

    @Option(help: "One process: worker per device, e.g. cuda:0,cuda:1: each gets {device} in its command (cuda:0, the one GPU it sees) and CUDA_VISIBLE_DEVICES=N.")
    var devices: String?

    @OptionGroup var leaseOption: LeaseOption

    func leaseDuration() throws -> Duration { try leaseOption.duration() }

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
