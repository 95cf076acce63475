import Foundation

/// Finds the Python that runs Loom's workers and the repository checkout that holds them.
///
/// The interpreter: `--python PATH`, else `$LOOM_PYTHON`, else `<repo>/.venv/bin/python` (the
/// project's environment, tools/setup), else `python3` on the PATH. LoomPipeline's `process:`
/// backends may grow a similar finder; the two are meant to become one.
public enum PythonInterpreter {
    public static let environmentKey = "LOOM_PYTHON"

    public static func resolve(explicit: String?, environment: [String: String], repository: String?) -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        if let fromEnvironment = environment[environmentKey], !fromEnvironment.isEmpty { return fromEnvironment }
        if let repository {
            let venv = repository + "/.venv/bin/python"
            if FileManager.default.isExecutableFile(atPath: venv) { return venv }
        }
        return "python3"
    }

    /// The nearest directory holding `relativePath`, walking up from the running executable
    /// (`.build/debug/loom` inside a checkout), then from the current directory.
    public static func repository(containing relativePath: String) -> String? {
        var starts: [URL] = []
        if let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            starts.append(URL(fileURLWithPath: executable).deletingLastPathComponent())
        }
        starts.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
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
}
