import Foundation
import LoomTestSupport
import Testing

/// A fleet store's two engines for one test: a fresh database in the shared PostgreSQL cluster
/// and a private SeaweedFS, both on loopback; `environment` carries the AWS variables a `loom`
/// child needs for the S3 side.
struct FleetEngines {
    let seaweed: SeaweedFSServer
    let catalog: String
    let blobs: String

    /// The trait of a test that needs both engines (``FleetEnginesTrait``).
    static var required: ConditionTrait { FleetEnginesTrait.required }

    static func start(prefix: String = "fleet") async throws -> FleetEngines {
        let postgres = try PostgresServer.shared()
        let seaweed = try await SeaweedFSServer.started()
        return FleetEngines(seaweed: seaweed, catalog: try postgres.makeDatabase(prefix: "loom_\(prefix)"),
                            blobs: "s3://\(seaweed.bucket)/\(prefix)")
    }

    var environment: [String: String] { seaweed.environment }

    /// The flags that name this fleet store on a command line.
    var flags: [String] { ["--catalog", catalog, "--blobs", blobs] }

    /// A working folder for a fleet command (`--store`), named by the flags or `store.json`.
    func workingFolder(_ path: String, viaVariables: Bool = false) -> CLIStore {
        var environment = self.environment
        if viaVariables {
            environment["LOOM_CATALOG"] = catalog
            environment["LOOM_BLOBS"] = blobs
        }
        return CLIStore(path, environment: environment)
    }
}

/// The batch lines of `loom stream --json` (the last line, with timings, left out).
func streamBatches(_ run: LoomRun) -> [String] {
    run.stdoutText.split(separator: "\n").map(String.init).filter { $0.contains("\"checksum\"") }
}
