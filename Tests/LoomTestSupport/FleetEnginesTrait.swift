import Testing

/// Whether a test that needs both fleet engines (the PostgreSQL cluster and SeaweedFS) can run.
public enum FleetEnginesTrait {
    /// Why they cannot run here, or nil when they can.
    public static var unavailableReason: String? {
        PostgresServer.unavailableReason ?? (SeaweedFSServer.binary == nil ? SeaweedFSServer.missingReason : nil)
    }

    /// The trait of such a test: skipped, saying why, where the engines cannot run.
    public static var required: ConditionTrait {
        .enabled(if: unavailableReason == nil, Comment(rawValue: unavailableReason ?? ""))
    }
}
