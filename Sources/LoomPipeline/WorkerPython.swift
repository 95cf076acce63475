import Foundation

/// The Python that runs a `process:` command whose program is `python3` or `python`.
///
/// The workers in tools/workers need torch, transformers and diffusers, which `tools/setup`
/// installs into the project's venv (`.venv` at the repository root), not into the system
/// Python. So `python3` in a `process:` command means, first found:
///
/// 1. `--python PATH` (of `loom caption` / `loom generate`);
/// 2. `$LOOM_PYTHON`;
/// 3. the project venv: `.venv/bin/python` in the repository the `loom` binary was built in
///    (the first folder with a Package.swift above the binary), then `.venv/bin/python` in the
///    current directory;
/// 4. `python3` / `python` from `PATH`, as written.
///
/// Any other program (`/usr/bin/python3.12`, `conda run ...`, `./worker`) runs as written.
public enum WorkerPython {
    /// Where the interpreter came from, for messages.
    public struct Choice: Equatable, Sendable {
        public var path: String
        public var source: String
    }

    /// `command` with a leading `python3` / `python` (after any `NAME=value` assignments)
    /// replaced by the chosen interpreter, and the choice; the command unchanged (and nil) when
    /// its program is not one of those or no interpreter other than PATH's was found.
    public static func resolve(command: String, explicit: String?, environment: [String: String],
                               executable: URL?, currentDirectory: String) throws -> (command: String, choice: Choice?) {
        let program = programRange(in: command)
        let isPython = program.map { ["python3", "python"].contains(String(command[$0])) } ?? false
        if let explicit, !explicit.isEmpty {
            guard isPython else {
                throw PipelineError("--python \(explicit) applies to a process: command that starts with python3 or python; this one is \"\(command)\"")
            }
            return (replacing(program!, in: command, with: try executableFile(explicit, what: "--python")),
                    Choice(path: explicit, source: "--python"))
        }
        guard isPython, let program else { return (command, nil) }
        if let variable = environment["LOOM_PYTHON"], !variable.isEmpty {
            return (replacing(program, in: command, with: try executableFile(variable, what: "LOOM_PYTHON")),
                    Choice(path: variable, source: "LOOM_PYTHON"))
        }
        if let venv = projectVenv(executable: executable, currentDirectory: currentDirectory) {
            return (replacing(program, in: command, with: venv), Choice(path: venv, source: "the project venv"))
        }
        return (command, nil)
    }

    /// The project venv's interpreter, if there is one: above the binary first (a developer's
    /// `.build/debug/loom` belongs to its checkout), then in the current directory.
    static func projectVenv(executable: URL?, currentDirectory: String) -> String? {
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
        let local = URL(fileURLWithPath: currentDirectory).appendingPathComponent(".venv/bin/python").path
        return files.isExecutableFile(atPath: local) ? local : nil
    }

    /// The range of the command's program word: the first word that is not a `NAME=value`
    /// assignment, when it is a plain word (no quotes or expansions to interpret).
    static func programRange(in command: String) -> Range<String.Index>? {
        var index = command.startIndex
        while index < command.endIndex {
            while index < command.endIndex, command[index] == " " || command[index] == "\t" { index = command.index(after: index) }
            let start = index
            while index < command.endIndex, command[index] != " " && command[index] != "\t" { index = command.index(after: index) }
            guard start < index else { return nil }
            let word = command[start..<index]
            if let equals = word.firstIndex(of: "="), equals > word.startIndex,
               word[..<equals].allSatisfy({ $0 == "_" || $0.isASCII && ($0.isLetter || $0.isNumber) }) {
                continue
            }
            return start..<index
        }
        return nil
    }

    static func replacing(_ range: Range<String.Index>, in command: String, with path: String) -> String {
        command.replacingCharacters(in: range, with: shellQuoted(path))
    }

    static func shellQuoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }

    private static func executableFile(_ path: String, what: String) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw PipelineError("\(what) \(path): no such file (it should name a Python interpreter, e.g. .venv/bin/python)")
        }
        guard !isDirectory.boolValue, FileManager.default.isExecutableFile(atPath: path) else {
            throw PipelineError("\(what) \(path): not an executable file (it should name a Python interpreter, e.g. .venv/bin/python)")
        }
        return path
    }
}
