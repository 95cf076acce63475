import ArgumentParser
import Foundation
import LoomDatasets
import LoomImage
import LoomIngest
import LoomLoader
import LoomPipeline
import LoomStore

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

    /// The error's code: the store's codes (which the service maps to HTTP statuses too); a
    /// command line that does not parse or validate, and any other bad input, is `invalid-argument`
    /// (the store's word for `invalid-input`, which `--json` has always printed).
    static func code(for error: any Error) -> String {
        switch error {
        case let error as StoreError: error.code.rawValue
        case let error as LoaderError: error.code.rawValue
        case let error as any CodedError:
            error.errorCode == .invalidInput ? StoreError.Code.invalidArgument.rawValue : error.errorCode.rawValue
        case is DatasetError, is ImageError, is ValidationError:
            StoreError.Code.invalidArgument.rawValue
        default:
            // ArgumentParser's own parse errors are not public types; its exit code tells them apart.
            LoomCommand.exitCode(for: error) == .validationFailure ? StoreError.Code.invalidArgument.rawValue : "internal"
        }
    }

    /// The exit status of a failure, by its code (README "Exit statuses"), so a script can tell a
    /// missing dataset from a held lock without reading the message. Nil leaves the status to
    /// ArgumentParser: an exit status a command chose (`ExitCode`), `--help`, a command line
    /// that does not parse (64), an error with no code (1).
    static func exitStatus(for error: any Error) -> Int32? {
        if error is ExitCode { return nil }
        if let error = error as? any CodedError { return exitStatus(for: error.errorCode) }
        // Bad input files with no code of their own: the same status as the `invalid-argument` `--json` prints.
        if error is DatasetError || error is ImageError { return exitStatus(for: .invalidInput) }
        return nil
    }

    /// sysexits(3) where one fits; 1 when the work itself failed.
    static func exitStatus(for code: LoomErrorCode) -> Int32 {
        switch code {
        case .invalidInput: 64   // EX_USAGE, as for a command line that does not parse
        case .corrupt: 65        // EX_DATAERR
        case .notFound: 66       // EX_NOINPUT
        case .unavailable: 69    // EX_UNAVAILABLE
        case .conflict: 75       // EX_TEMPFAIL: the writer lock is held, or the state changed; retry
        case .internal: 1
        }
    }
}
