import Foundation

/// The one place Loom decides which Python runs its workers (tools/workers: the `process:`
/// captioners and generators, and the torch trainer).
///
/// The workers need torch, transformers and diffusers, which `tools/setup` installs into the
/// project's venv (`.venv` at the repository root), not into the system Python. First found:
///
/// 1. `--python PATH`;
/// 2. `$LOOM_PYTHON`;
/// 3. the project venv: `.venv/bin/python` in the repository the `loom` binary was built in
///    (the first folder with a Package.swift above the binary), then in the current directory,
///    then in the checkout that holds the worker when the caller found one;
/// 4. none: the caller runs `python3` from `PATH`.
///
/// The first two must name an executable file; the error says which one is wrong and why.
public enum PythonInterpreter {
    public static let environmentKey = "LOOM_PYTHON"

    /// The interpreter and where it came from, for messages.
    public struct Choice: Equatable, Sendable {
        public var path: String
        public var source: String
        public init(path: String, source: String) {
            self.path = path
            self.source = source
        }
    }

    /// `--python` or `$LOOM_PYTHON` names no executable file. Callers rethrow it as their own
    /// error type (this module depends on nothing, so both the pipeline and the trainer can use it).
    public struct Problem: Error, CustomStringConvertible, Sendable, Hashable {
        public var message: String
        public var description: String { message }
    }

    /// The interpreter to use, or nil for `python3` from `PATH`.
    /// - Parameter checkout: a repository known to hold the worker, whose `.venv` is the last place looked.
    public static func find(explicit: String?, environment: [String: String], executable: URL?, currentDirectory: String,
                            checkout: String? = nil) throws(Problem) -> Choice? {
        if let explicit, !explicit.isEmpty {
            return Choice(path: try executableFile(explicit, what: "--python"), source: "--python")
        }
        if let variable = environment[environmentKey], !variable.isEmpty {
            return Choice(path: try executableFile(variable, what: environmentKey), source: environmentKey)
        }
        return projectVenv(executable: executable, currentDirectory: currentDirectory, checkout: checkout)
            .map { Choice(path: $0, source: "the project venv") }
    }

    /// The project venv's interpreter, if there is one: above the binary first (a developer's
    /// `.build/debug/loom` belongs to its checkout), then in the current directory, then in `checkout`.
    static func projectVenv(executable: URL?, currentDirectory: String, checkout: String?) -> String? {
        let files = FileManager.default
        if let executable {
            var folder = executable.resolvingSymlinksInPath().deletingLastPathComponent()
            while folder.path != "/" && !folder.path.isEmpty {
                if files.fileExists(atPath: folder.appendingPathComponent("Package.swift").path) {
                    let python = folder.appendingPathComponent(".venv/bin/python").path
                    if files.isExecutableFile(atPath: python) { return python }
                    break
                }
                folder.deleteLastPathComponent()
            }
        }
        for folder in [currentDirectory] + (checkout.map { [$0] } ?? []) {
            let python = URL(fileURLWithPath: folder).appendingPathComponent(".venv/bin/python").path
            if files.isExecutableFile(atPath: python) { return python }
        }
        return nil
    }

    /// The nearest directory holding `relativePath` (a worker script), walking up from the
    /// running executable (`.build/debug/loom` inside a checkout), then from the current directory.
    public static func repository(containing relativePath: String, executable: URL?, currentDirectory: String) -> String? {
        let starts = (executable.map { [$0.resolvingSymlinksInPath().deletingLastPathComponent()] } ?? [])
            + [URL(fileURLWithPath: currentDirectory)]
        for start in starts {
            var directory = start.standardizedFileURL
            while true {
                if FileManager.default.fileExists(atPath: directory.appendingPathComponent(relativePath).path) {
                    return directory.path
                }
                let parent = directory.deletingLastPathComponent()
                if parent.path == directory.path { break }
                directory = parent
            }
        }
        return nil
    }

    private static func executableFile(_ path: String, what: String) throws(Problem) -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw Problem(message: "\(what) \(path): no such file (it should name a Python interpreter, e.g. .venv/bin/python)")
        }
        guard !isDirectory.boolValue, FileManager.default.isExecutableFile(atPath: path) else {
            throw Problem(message: "\(what) \(path): not an executable file (it should name a Python interpreter, e.g. .venv/bin/python)")
        }
        return path
    }
}
