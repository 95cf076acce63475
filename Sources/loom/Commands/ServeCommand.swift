import ArgumentParser
import Foundation
import Logging
import LoomLoader
import LoomServer

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the store over HTTP: a JSON API, batch streaming to remote trainers, a web gallery, /metrics.",
        discussion: """
            Binds 127.0.0.1:8080 by default (--port 0 picks a free port; the listening line says which).
            Reads are open to whoever can reach the server. Writes (POST /v1/ingest, POST /v1/captions)
            need `Authorization: Bearer TOKEN` with the token from --token-file or $LOOM_TOKEN; with no
            token configured, writes are off. The store is opened read-only; the writer lock is taken
            only for the length of one write request, so other loom commands can write meanwhile.
            Requests whose Host is not the bound address (or localhost on loopback) or an --allowed-host
            name get 421, so a web page cannot reach the server through a rebound DNS name. Each batch
            stream may hold --stream-memory bytes, and --max-streams run at once.
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

    @Option(name: .customLong("stream-memory"),
            help: "Memory one batch stream may hold, e.g. 512MiB, 2GiB (bigger batch x size^2 requests get 400).")
    var streamMemory = ByteCount(StreamBudget.defaultBytes)

    @Option(name: .customLong("max-streams"), help: "Batch streams served at once (503 with Retry-After past it; default: 2 per core).")
    var maxStreams = ServerConfiguration.defaultMaxStreams

    @Option(name: .customLong("allowed-host"),
            help: "A Host name to answer besides the bound address (repeatable; * accepts any). Others get 421.")
    var allowedHosts: [String] = []

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
        guard maxStreams > 0 else { throw ValidationError("--max-streams must be positive") }
        guard streamMemory.bytes > 0 else { throw ValidationError("--stream-memory must be positive") }
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
            return try Self.checkLength(token, source: "the token in \(tokenFile)")
        }
        if let token = ProcessInfo.processInfo.environment["LOOM_TOKEN"]?.trimmingCharacters(in: .whitespacesAndNewlines),
           !token.isEmpty {
            return try Self.checkLength(token, source: "$LOOM_TOKEN")
        }
        return nil
    }

    /// A short token can be guessed: refuse to guard writes with one.
    static func checkLength(_ token: String, source: String) throws -> String {
        let minimum = ServerConfiguration.minimumTokenLength
        guard token.count >= minimum else {
            throw ValidationError("\(source) is \(token.count) characters; a write token needs at least \(minimum) (e.g. openssl rand -hex 32)")
        }
        return token
    }

    func run() async throws {
        let format = logFormat ?? (isatty(STDERR_FILENO) != 0 ? .text : .json)
        LoggingSystem.bootstrap { label in LoomLogHandler(label: label, format: format) }
        let logger = Logger(label: "loom.serve")
        let token = try token()
        if token == nil { logger.notice("writes are off: no --token-file and no LOOM_TOKEN") }
        if host != "127.0.0.1" && host != "::1" && host != "localhost" {
            logger.warning("bound beyond loopback: anyone who can reach \(host):\(port) can read the whole store")
        }
        var configuration = ServerConfiguration(store: options.layout, host: host, port: port, token: token,
                                                maxUploadBytes: maxUploadBytes, loaderWorkers: workers, reportsDirectory: reports,
                                                streamMemory: StreamBudget(bytes: streamMemory.bytes), maxStreams: maxStreams,
                                                allowedHosts: allowedHosts)
        let storeOptions = options
        configuration.openStore = { access in try storeOptions.open(access) }
        configuration.sqlTimeout = .seconds(sqlTimeout)
        configuration.sqlConcurrency = sqlConcurrency
        let server = LoomServer(configuration: configuration, logger: logger)
        let json = options.json
        try await server.run { port in
            let url = "http://\(host.contains(":") ? "[\(host)]" : host):\(port)"
            if json {
                FileHandle.standardOutput.write(Data("{\"listening\":\"\(url)\",\"port\":\(port)}\n".utf8))
            } else {
                FileHandle.standardError.write(Data("loom serve: listening on \(url)\n".utf8))
            }
        }
    }
}

extension LoomLogHandler.Format: ExpressibleByArgument {}
