import Foundation
import Glibc
import LoomStore
import LoomTestSupport
import Testing

/// Every server test: one after another (they start real processes, and CI has two cores).
@Suite("loom serve (end to end)", .serialized)
struct ServerTests {}

/// A store made through the CLI (`loom ingest`, optionally the builtin pipeline) in a scratch
/// directory, and `loom serve` running on it on a free loopback port.
final class ServerFixture {
    let scratch: TemporaryDirectory
    let store: String
    /// The files ingested: relative path -> bytes.
    private(set) var files: [String: [UInt8]] = [:]
    private(set) var server: Child?
    private(set) var port = 0
    static let token = "s3cret-token-for-tests"

    init(classes: [String] = ["cat", "dog", "fox"], trainPerClass: Int = 4, valPerClass: Int = 2, pipeline: Bool = false) throws {
        scratch = try TemporaryDirectory(prefix: "loom-serve-test-")
        store = scratch.appending("store")
        var seed: UInt64 = 1
        for (split, count) in [("train", trainPerClass), ("val", valPerClass)] {
            for name in classes {
                for i in 0..<count {
                    seed += 1
                    let png = i % 3 == 2
                    let (w, h) = [(64, 48), (80, 60), (48, 64)][Int(seed) % 3]
                    let bytes = png ? FixtureImages.png(width: w, height: h, seed: seed) : FixtureImages.jpeg(width: w, height: h, seed: seed)
                    let path = "\(split)/\(name)/img\(i).\(png ? "png" : "jpg")"
                    try scratch.write(bytes, to: "data/" + path)
                    files[path] = bytes
                }
            }
        }
        try loom(["ingest", scratch.appending("data"), "--dataset", "pets", "--json"])
        if pipeline {
            try loom(["caption", "--dataset", "pets", "--split", "train", "--backend", "builtin:stats"])
            try loom(["prompts", "--dataset", "pets", "--strategy", "class-caption"])
            try loom(["generate", "--dataset", "pets", "--prompts", "class-caption", "--backend", "builtin:procedural",
                      "--per-prompt", "1", "--seed", "0", "--size", "32x32"])
        }
    }

    /// `loom ARGS --store STORE`, which must exit 0.
    @discardableResult
    func loom(_ arguments: [String]) throws -> LoomRun {
        try Loom.ok(arguments + ["--store", store], in: scratch.path)
    }

    /// Starts `loom serve` (port 0) and waits for its listening line.
    func start(token: Bool = true, extra: [String] = [], environment: [String: String] = [:]) throws {
        var arguments = ["serve", "--store", store, "--port", "0", "--json", "--workers", "2"] + extra
        if token {
            try scratch.write(Self.token + "\n", to: "token")
            arguments += ["--token-file", scratch.appending("token")]
        }
        let child = try Child(arguments, environment: environment, directory: scratch.path)
        server = child
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let line = String(decoding: child.stdout, as: UTF8.self).split(separator: "\n").first,
               let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let port = object["port"] as? Int {
                self.port = port
                return
            }
            guard child.process.isRunning else { throw TestFailure("loom serve exited early: \(child.wait())") }
            usleep(20_000)
        }
        throw TestFailure("loom serve did not say where it listens within 60 s: \(child.stderrText)")
    }

    /// SIGTERM, then the exit (which must be clean).
    func stop() throws -> LoomRun {
        guard let server else { throw TestFailure("no server") }
        server.signal(SIGTERM)
        let run = server.wait(timeout: 30)
        self.server = nil
        return run
    }

    var authorization: (String, String) { ("Authorization", "Bearer \(Self.token)") }

    func get(_ target: String, headers: [(String, String)] = []) throws -> RawHTTP.Reply {
        try RawHTTP.request(port, "GET", target, headers: headers)
    }

    func post(_ target: String, headers: [(String, String)] = [], body: [UInt8]) throws -> RawHTTP.Reply {
        try RawHTTP.request(port, "POST", target, headers: headers, body: body)
    }

    /// A `multipart/form-data` body of `files` (name, bytes) and its content type.
    static func multipart(_ files: [(String, [UInt8])]) -> (contentType: String, body: [UInt8]) {
        let boundary = "loom-test-\(UUID().uuidString)"
        var body: [UInt8] = []
        for (name, bytes) in files {
            body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\(name)\"\r\nContent-Type: application/octet-stream\r\n\r\n".utf8)
            body += bytes
            body += Array("\r\n".utf8)
        }
        body += Array("--\(boundary)--\r\n".utf8)
        return ("multipart/form-data; boundary=\(boundary)", body)
    }

    /// What a write must not change: the catalog's rows, counted per table.
    func catalogCounts() throws -> String {
        try loom(["sql", """
            SELECT (SELECT count(*) FROM datasets), (SELECT count(*) FROM real_images), (SELECT count(*) FROM blobs),
                   (SELECT count(*) FROM captions), (SELECT count(*) FROM runs), (SELECT count(*) FROM classes)
            """]).stdoutText
    }

    deinit { if let server { server.signal(SIGKILL); _ = server.wait(timeout: 10) } }
}

/// JSON values compared as parsed objects (key order and number spelling do not matter).
func jsonEqual(_ a: Any?, _ b: Any?) -> Bool {
    guard let a, let b else { return a == nil && b == nil }
    return (a as? NSObject)?.isEqual(b) ?? false
}
