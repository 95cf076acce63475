import Foundation
import Glibc
import Synchronization

/// A private PostgreSQL cluster for the tests of this process: initialised in a temporary folder,
/// listening on a free loopback port (and a unix socket in the same folder) only, with `fsync`
/// off, started once on first use and removed when the process ends.
///
/// The postmaster is started by a small shell watchdog whose standard input is a pipe held by
/// this process: however the test process ends (normally, a crash, `kill -9`), the kernel closes
/// the pipe, the watchdog's `cat` returns, and it stops the cluster and deletes its folder. A
/// static never deinitialises, so this is also how the normal end of a test run cleans up.
///
/// initdb refuses to run as root: as root the cluster runs as the `postgres` user (setpriv).
public final class PostgresServer: Sendable {
    public static let user = "loom"
    /// Host connections use scram-sha-256 with this password, so URLs with a password are tested for real.
    public static let password = "loom-test-password"

    public let port: Int
    /// Holds the unix socket `.s.PGSQL.<port>` (and the cluster itself, in `data/`).
    public let folder: String
    private let binDirectory: String
    private let databases = Atomic<Int>(0)
    /// The write end of the watchdog's standard input: open for as long as this process lives.
    private let lifeline: FileHandle
    private let watchdog: Process

    /// The directory holding `initdb`, `pg_ctl` and `postgres`: `$LOOM_POSTGRES_BIN`, else the
    /// newest `/usr/lib/postgresql/<version>/bin`; nil when there is none.
    public static let binDirectory: String? = {
        let files = FileManager.default
        func complete(_ directory: String) -> Bool {
            ["initdb", "pg_ctl", "postgres", "createdb"].allSatisfy { files.isExecutableFile(atPath: directory + "/" + $0) }
        }
        if let explicit = ProcessInfo.processInfo.environment["LOOM_POSTGRES_BIN"], !explicit.isEmpty {
            return complete(explicit) ? explicit : nil
        }
        let root = "/usr/lib/postgresql"
        let versions = ((try? files.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted(by: >)
        return versions.map { "\(root)/\($0)/bin" }.first(where: complete)
    }()

    /// Why PostgreSQL tests cannot run here, or nil when they can: the one reason they are skipped.
    public static var unavailableReason: String? {
        binDirectory == nil
            ? "PostgreSQL binaries not found (no initdb/pg_ctl/postgres/createdb in $LOOM_POSTGRES_BIN or /usr/lib/postgresql/*/bin); run tools/setup"
            : nil
    }

    private static let started: Result<PostgresServer, StartError> = {
        guard let bin = binDirectory else { return .failure(StartError(description: unavailableReason ?? "")) }
        do { return .success(try PostgresServer(binDirectory: bin)) } catch let error as StartError {
            return .failure(error)
        } catch {
            return .failure(StartError(description: "cannot start PostgreSQL: \(error)"))
        }
    }()

    /// The process's cluster, started on the first call.
    public static func shared() throws -> PostgresServer { try started.get() }

    /// A cluster of its own (tests of the harness itself); ``stop()`` ends it before the process does.
    public static func start() throws -> PostgresServer {
        guard let bin = binDirectory else { throw StartError(description: unavailableReason ?? "") }
        return try PostgresServer(binDirectory: bin)
    }

    /// Does what the end of this process does: closes the lifeline, then waits for the watchdog
    /// to stop the cluster and delete its folder.
    public func stop() {
        try? lifeline.close()
        watchdog.waitUntilExit()
    }

    public struct StartError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    private init(binDirectory: String) throws {
        self.binDirectory = binDirectory
        var template = Array((FileManager.default.temporaryDirectory.path + "/loom-pg-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw StartError(description: "mkdtemp failed: \(String(cString: strerror(errno)))") }
        folder = String(cString: made)
        port = try Self.freeLoopbackPort()
        try Data((Self.password + "\n").utf8).write(to: URL(fileURLWithPath: folder + "/password"))

        let asRoot = getuid() == 0
        if asRoot {
            // The cluster's files belong to the user it runs as; root still reads the log.
            guard let account = getpwnam("postgres") else {
                throw StartError(description: "running as root, and there is no `postgres` user to run the cluster as (initdb refuses root)")
            }
            for path in [folder, folder + "/password"] { _ = chown(path, account.pointee.pw_uid, account.pointee.pw_gid) }
        }
        let options = "-p \(port) -c listen_addresses=127.0.0.1 -k '\(folder)' -c fsync=off -c synchronous_commit=off "
            + "-c full_page_writes=off -c max_connections=200 -c shared_buffers=32MB"
        let script = """
            set -u
            "$BIN/initdb" -D "$DIR/data" -U \(Self.user) --pwfile="$DIR/password" --auth-local=trust \
                --auth-host=scram-sha-256 -E UTF8 --locale=C -N >"$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log" >&2; exit 1; }
            "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/postgres.log" -w -t 120 -o "\(options)" start >/dev/null 2>&1 \
                || { cat "$DIR/postgres.log" >&2; exit 1; }
            echo ready
            cat >/dev/null
            "$BIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1
            rm -rf "$DIR"
            """
        let process = Process()
        if asRoot {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments = ["--reuid=postgres", "--regid=postgres", "--init-groups", "/bin/bash", "-c", script]
        } else {
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = ["-c", script]
        }
        var environment = ProcessInfo.processInfo.environment
        environment["BIN"] = binDirectory
        environment["DIR"] = folder
        process.environment = environment
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        // Children started later (loom processes under test) must not inherit the lifeline, or
        // they would keep the cluster alive after this process dies.
        _ = fcntl(input.fileHandleForWriting.fileDescriptor, F_SETFD, FD_CLOEXEC)
        try process.run()
        lifeline = input.fileHandleForWriting
        watchdog = process

        var said = Data()
        while !String(decoding: said, as: UTF8.self).contains("ready\n") {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty {
                process.waitUntilExit()
                let why = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                throw StartError(description: "PostgreSQL (\(binDirectory)) did not start on 127.0.0.1:\(port): \(why)")
            }
            said.append(chunk)
        }
    }

    /// A new, empty database in the cluster, as a `postgresql://` URL over TCP with a password.
    public func makeDatabase(prefix: String = "loom_test") throws -> String {
        let name = "\(prefix)_\(getpid())_\(databases.add(1, ordering: .relaxed).newValue)"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binDirectory + "/createdb")
        process.arguments = ["-h", folder, "-p", String(port), "-U", Self.user, name]
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let why = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw StartError(description: "createdb \(name) failed: \(String(decoding: why, as: UTF8.self))")
        }
        return url(database: name)
    }

    public func url(database: String, user: String = PostgresServer.user, password: String? = PostgresServer.password) -> String {
        "postgresql://\(user)\(password.map { ":" + $0 } ?? "")@127.0.0.1:\(port)/\(database)?sslmode=disable"
    }

    /// Binds port 0 on 127.0.0.1 and hands back what the kernel chose (free a moment ago).
    private static func freeLoopbackPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw StartError(description: "socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw StartError(description: "bind 127.0.0.1:0: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
