import Foundation
import LoomPython

/// The Python that runs a `process:` command whose program is `python3` or `python`: the
/// interpreter ``PythonInterpreter`` finds (`--python`, `$LOOM_PYTHON`, the project venv), put in
/// place of that program word. With none found, `python3` / `python` runs from `PATH`, as written.
///
/// Any other program (`/usr/bin/python3.12`, `conda run ...`, `./worker`) runs as written.
public enum WorkerPython {
    /// Where the interpreter came from, for messages.
    public typealias Choice = PythonInterpreter.Choice

    /// `command` with a leading `python3` / `python` (after any `NAME=value` assignments)
    /// replaced by the chosen interpreter, and the choice; the command unchanged (and nil) when
    /// its program is not one of those or no interpreter other than PATH's was found.
    public static func resolve(command: String, explicit: String?, environment: [String: String],
                               executable: URL?, currentDirectory: String) throws -> (command: String, choice: Choice?) {
        let program = programRange(in: command)
        let isPython = program.map { ["python3", "python"].contains(String(command[$0])) } ?? false
        if let explicit, !explicit.isEmpty, !isPython {
            throw PipelineError("--python \(explicit) applies to a process: command that starts with python3 or python; this one is \"\(command)\"")
        }
        guard isPython, let program else { return (command, nil) }
        let choice: Choice?
        do {
            choice = try PythonInterpreter.find(explicit: explicit, environment: environment, executable: executable,
                                                currentDirectory: currentDirectory)
        } catch {
            throw PipelineError(error.message)
        }
        guard let choice else { return (command, nil) }
        return (replacing(program, in: command, with: choice.path), choice)
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
}
