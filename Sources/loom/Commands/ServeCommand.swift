import ArgumentParser
import Dispatch
import Foundation
import Logging
import LoomServer
import Synchronization

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the store over HTTP: a JSON API, batch streaming to remote trainers, a web gallery, /metrics.",
        discussion: """
            Binds 127.0.0.1:8080 by default (--port 0 picks a free port; the listening line says which).
            Reads are open to whoever can reach the server. Writes (POST /v1/ingest, POST /v1/captions)
            need `Authorization: Bearer TOKEN` with the token from --token-file or $LOOM_TOKEN; with no
            token configured, writes are off. The store is opened read-only; the writer lock is taken
            only for the length of one write request, so other loom commands can write meanwhile.
            SIGINT or SIGTERM stop it gracefully. docs/service.md describes every endpoint.
            """)

    @OptionGroup var options: StoreOptions

    @Option(help: "Address to bind (127.0.0.1: this machine only; 0.0.0.0: every interface).")
    var host = "127.0.0.1"

    @Option(help: "Port to bind (0: any free port).")
    var port = 8080

    @Option(name: .customLong("token-file"), help: "File holding the bearer token for writes (else $LOOM_TOKEN; neither: writes off).")
    var tokenFile: String?

    @Option(name: .customLong("max-upload-bytes"), help: "Largest request body a write accepts (413 past it).")
    var maxUploadBytes = 256 << 20

    @Option(help: "Decoding threads per batch stream (default: all cores).")
    var workers = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Folder of experiment reports (reports/<run name>/report.json|svg) for the gallery.")
    var reports = "reports"

    @Option(name: .customLong("sql-timeout"), help: "Seconds a /v1/sql statement may run before it is stopped (408).")
    var sqlTimeout = SQLTimeout.defaultSeconds

    @Option(name: .customLong("sql-concurrency"), help: "/v1/sql statements that run at once, each on its own connection (503 past it).")
    var sqlConcurrency = 2

    @Option(name: .customLong("log-format"), help: "Logs on stderr: json (one object per line) or text (default: text on a terminal, else json).")
    var logFormat: LoomLogHandler.Format?

    func validate() throws {
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be 0...65535") }
        guard maxUploadBytes > 0 else { throw ValidationError("--max-upload-bytes must be positive") }
        guard workers > 0 else { throw ValidationError("--workers must be positive") }
        try SQLTimeout.validate(sqlTimeout)
        guard (1...64).contains(sqlConcurrency) else { throw ValidationError("--sql-concurrency must be 1...64") }
    }

    func token() throws -> String? {
        if let tokenFile {
            guard let data = FileManager.default.contents(atPath: tokenFile) else {
                throw ValidationError("cannot read the token file \(tokenFile)")
            }
            let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !token.isEmpty else { throw ValidationError("the token file \(tokenFile) is empty") }
            return token
        }
        if let token = ProcessInfo.processInfo.environment["LOOM_TOKEN"]?.trimmingCharacters(in: .whitespacesAndNewlines),
           !token.isEmpty {
            return token
        }
        return nil
    }

    func run() throws {
        let format = logFormat ?? (isatty(STDERR_FILENO) != 0 ? .text : .json)
        LoggingSystem.bootstrap { label in LoomLogHandler(label: label, format: format) }
        let logger = Logger(label: "loom.serve")
        let token = try token()
        if token == nil { logger.notice("writes are off: no --token-file and no LOOM_TOKEN") }
        if host != "127.0.0.1" && host != "::1" && host != "localhost" {
            logger.warning("bound beyond loopback: anyone who can reach \(host):\(port) can read the whole store")
        }
        var configuration = ServerConfiguration(store: options.layout, host: host, port: port, token: token,
                                                maxUploadBytes: maxUploadBytes, loaderWorkers: workers, reportsDirectory: reports)
        configuration.sqlTimeout = .seconds(sqlTimeout)
        configuration.sqlConcurrency = sqlConcurrency
        let server = LoomServer(configuration: configuration, logger: logger)
        let json = options.json
        let failure = Mutex<(any Error)?>(nil)
        let done = DispatchSemaphore(value: 0)
        // The root command is synchronous; the server runs on the cooperative pool while this
        // thread waits for it to stop.
        Task {
            do {
                try await server.run { port in
                    let url = "http://\(host.contains(":") ? "[\(host)]" : host):\(port)"
                    if json {
                        FileHandle.standardOutput.write(Data("{\"listening\":\"\(url)\",\"port\":\(port)}\n".utf8))
                    } else {
                        FileHandle.standardError.write(Data("loom serve: listening on \(url)\n".utf8))
                    }
                }
            } catch {
                failure.withLock { $0 = error }
            }
            done.signal()
        }
        done.wait()
        if let error = failure.withLock({ $0 }) { throw error }
    }
}

extension LoomLogHandler.Format: ExpressibleByArgument {}
