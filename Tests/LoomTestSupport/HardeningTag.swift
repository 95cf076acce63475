import Testing

extension Tag {
    /// The hostile-input suite: each test reproduces a finding from the hardening review
    /// (a request, file or flag that crashed, starved or corrupted something) and must fail on
    /// the code before its fix. Run only these with `swift test --filter` on the suites, or
    /// list them with `swift test list`.
    @Tag public static var hardening: Self
}
