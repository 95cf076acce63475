import ArgumentParser
import Foundation
import LoomDatasets
import LoomImage
import LoomIngest
import LoomLoader
import LoomPipeline
import LoomStore
import LoomTrain

/// How a failed command is reported: ArgumentParser's message on stderr as always, and with
/// `--json` also `{"error": {"code": ..., "message": ...}}` on stdout, so a script reading
/// stdout sees why instead of nothing. One place for every command (``LoomCommand/main()``).
enum CommandFailure {
    struct Body: Encodable {
        var code: String
        var message: String
    }

    struct Document: Encodable { var error: Body }

    /// Prints the JSON error document when `arguments` ask for JSON and `error` is a failure
    /// (not `--help`, and not an exit status a command chose after printing its own JSON, as
    /// `verify` does for a broken store).
    static func report(_ error: any Error, arguments: [String]) {
        guard wantsJSON(arguments), !(error is ExitCode), LoomCommand.exitCode(for: error) != .success else { return }
        let message = LoomCommand.message(for: error)
        try? Output.json(Document(error: Body(code: code(for: error), message: message)))
    }

    /// `--json` among the options (not after a `--` that ends them). Checked on the words, not
    /// the parsed command: a command line that fails to parse has no parsed command.
    static func wantsJSON(_ arguments: [String]) -> Bool {
        arguments.prefix { $0 != "--" }.contains("--json")
    }

    /// The error's code: the store's codes (which the service maps to HTTP statuses too);
    /// a command line that does not parse or validate is `invalid-argument`.
    static func code(for error: any Error) -> String {
        switch error {
        case let error as StoreError: error.code.rawValue
        case let error as LoaderError: error.code.rawValue
        // Its code says what is missing (a dataset folder, a named labels file) and what is malformed.
        case let error as IngestError:
            error.errorCode == .notFound ? StoreError.Code.notFound.rawValue
                : error.errorCode == .internal ? "internal" : StoreError.Code.invalidArgument.rawValue
        case is PipelineError, is DatasetError, is ImageError, is TrainError, is ValidationError:
            StoreError.Code.invalidArgument.rawValue
        default:
            // ArgumentParser's own parse errors are not public types; its exit code tells them apart.
            LoomCommand.exitCode(for: error) == .validationFailure ? StoreError.Code.invalidArgument.rawValue : "internal"
        }
    }
}
