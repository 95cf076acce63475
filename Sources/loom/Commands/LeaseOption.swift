import ArgumentParser

/// `--lease`: how long a claim on a shared run's jobs holds on a fleet store without renewal.
struct LeaseOption: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Seconds a worker's claim on jobs holds on a fleet store without renewal (renewed every third of it while the worker lives).",
        discussion: "A killed or cut-off worker's jobs go back to the queue this long after its last renewal, and another worker finishes them."))
    var lease = 300.0

    /// `--lease` as a duration, refused below a tenth of a second or above a day.
    func duration() throws -> Duration {
        guard lease.isFinite, lease >= 0.1, lease <= 86_400 else {
            throw ValidationError("--lease must be between 0.1 and 86400 seconds, not \(lease)")
        }
        return .milliseconds(Int64((lease * 1000).rounded()))
    }
}
