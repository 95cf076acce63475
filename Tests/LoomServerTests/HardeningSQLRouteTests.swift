import Foundation
import Glibc
import LoomStore
import LoomTestSupport
import Testing

/// `/v1/sql` under hostile statements: it reads only the catalog, within a time limit, on
/// connections of its own, so it can never starve the rest of the API or hold up a shutdown.
extension ServerTests {
    static let foreverSQL = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"

    static func sqlTarget(_ sql: String) -> String {
        "/v1/sql?q=" + sql.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
    }

    /// Sends a statement that never ends on its own, on a connection of its own, without reading the reply.
    static func startForever(_ fixture: ServerFixture) throws -> RawHTTP {
        let connection = try RawHTTP(port: fixture.port)
        try connection.sendRequest("GET", sqlTarget(foreverSQL))
        return connection
    }

    /// Asks `SELECT 1` until the answer is `status` (a full pool answers 503, a free slot 200).
    static func waitForSQLStatus(_ fixture: ServerFixture, _ status: Int) throws -> RawHTTP.Reply {
        let deadline = Date().addingTimeInterval(30)
        var reply = try fixture.get(sqlTarget("SELECT 1 AS one"))
        while reply.status != status && Date() < deadline {
            usleep(50_000)
            reply = try fixture.get(sqlTarget("SELECT 1 AS one"))
        }
        return reply
    }

    /// `count` never-ending statements that hold every slot, known to because `SELECT 1` is
    /// then refused with 503. A probe can take a slot just before a statement asks for it; that
    /// statement is refused (its reply arrives) and is sent again.
    static func holdEverySlot(_ fixture: ServerFixture, count: Int) throws -> [RawHTTP] {
        var running = try (0..<count).map { _ in try startForever(fixture) }
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let probe = try fixture.get(sqlTarget("SELECT 1 AS one"))
            if probe.status == 503 {
                #expect(probe.header("retry-after") != nil && probe.error.contains("busy"), "\(probe)")
                return running
            }
            for i in running.indices where running[i].hasReply { running[i] = try startForever(fixture) }
            usleep(50_000)
        }
        throw TestFailure("\(count) never-ending statements did not take every SQL slot within 30 s")
    }

    @Test("/v1/sql refuses ATTACH and fts3_tokenizer with 400 naming them, caps an answer at 32 MiB, and stops a runaway statement at --sql-timeout with 408",
          .tags(.hardening))
    func sqlRefusalsAndTimeLimit() throws {
        let fixture = try ServerFixture(classes: ["cat"], trainPerClass: 2, valPerClass: 0)
        try fixture.start(extra: ["--sql-timeout", "1"])
        defer { _ = try? fixture.stop() }

        var answers: [String] = []
        for path in [fixture.store + "/catalog.sqlite", "/etc/shadow", fixture.scratch.appending("missing.sqlite")] {
            let reply = try fixture.get(Self.sqlTarget("ATTACH DATABASE '\(path)' AS x"))
            #expect(reply.status == 400 && reply.error.contains("ATTACH") && reply.error.contains("refused"), "\(reply)")
            answers.append(reply.error.replacingOccurrences(of: path, with: "PATH"))
        }
        #expect(Set(answers).count == 1, "the answer must not tell which files exist: \(answers)")
        let tokenizer = try fixture.get(Self.sqlTarget("SELECT hex(fts3_tokenizer('simple'))"))
        #expect(tokenizer.status == 400 && tokenizer.error.contains("fts3_tokenizer"), "\(tokenizer)")
        let paths = try fixture.get(Self.sqlTarget("SELECT file FROM pragma_database_list"))
        #expect(paths.status == 400 && !paths.text.contains(fixture.store), "\(paths)")
        // A statement that would write is a 400 like every other refusal.
        let write = try fixture.get(Self.sqlTarget("DELETE FROM blobs"))
        #expect(write.status == 400 && write.error.contains("read-only"), "\(write)")

        // An answer holds at most 32 MiB of values, whatever `limit` says.
        let big = try fixture.get(Self.sqlTarget(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10) SELECT randomblob(10000000) AS b FROM c"))
        let bigJSON = try big.json()
        #expect(big.status == 200 && (bigJSON["rows"] as? [Any])?.count == 1 && bigJSON["truncated"] as? Bool == true,
                "\(big.status) \((bigJSON["rows"] as? [Any])?.count ?? -1) rows")

        let runaway = try fixture.get(Self.sqlTarget(Self.foreverSQL))
        #expect(runaway.status == 408, "\(runaway)")
        #expect(runaway.error.contains("stopped after 1 s") && runaway.error.contains("--sql-timeout"), "\(runaway.error)")

        let after = try fixture.get(Self.sqlTarget("SELECT count(*) AS n FROM blobs")).json()
        #expect(jsonEqual(after["rows"], [["n": 2]]), "\(after)")
        #expect(try fixture.get("/healthz").status == 200)
    }

    @Test("runaway statements take only the SQL slots: the API keeps answering, past the cap is 503 with Retry-After, SIGTERM stops them",
          .tags(.hardening))
    func sqlCannotStarveTheAPI() throws {
        let fixture = try ServerFixture(classes: ["cat"], trainPerClass: 2, valPerClass: 0)
        try fixture.start(extra: ["--sql-timeout", "600", "--sql-concurrency", "2"])
        defer { _ = try? fixture.stop() }

        let running = try Self.holdEverySlot(fixture, count: 2)
        for _ in 0..<4 {
            let extra = try fixture.get(Self.sqlTarget(Self.foreverSQL))
            #expect(extra.status == 503 && extra.header("retry-after") == "600", "\(extra)")
        }

        // While both slots run, everything else answers.
        #expect(try fixture.get("/healthz").status == 200)
        let (path, bytes) = try #require(fixture.files.first)
        let blob = try fixture.get("/v1/blobs/\(Digest.sha256(bytes).hex)")
        #expect(blob.status == 200 && blob.body == bytes, "\(path): \(blob.status)")
        #expect(try fixture.get("/v1/stats").status == 200)
        #expect(try fixture.get("/").status == 200)
        #expect(try fixture.get("/v1/images?dataset=pets").status == 200)

        // SIGTERM: the running statements are stopped and answered, and the server exits cleanly.
        let stopped = try fixture.stop()
        #expect(stopped.status == 0, "\(stopped)")
        for connection in running {
            let reply = try connection.readReply()
            #expect(reply.status == 503 && reply.error.contains("shutting down"), "\(reply)")
        }
    }

    @Test("a client that disconnects in the middle of a statement frees its slot", .tags(.hardening))
    func sqlClientDisconnectFreesSlot() throws {
        let fixture = try ServerFixture(classes: ["cat"], trainPerClass: 1, valPerClass: 0)
        try fixture.start(extra: ["--sql-timeout", "600", "--sql-concurrency", "1"])
        defer { _ = try? fixture.stop() }

        var connection: RawHTTP? = try Self.holdEverySlot(fixture, count: 1)[0]
        #expect(connection?.hasReply == false)
        connection = nil  // closes the socket
        let free = try Self.waitForSQLStatus(fixture, 200)
        #expect(free.status == 200, "the slot must come back once the client is gone: \(free)")
        #expect(jsonEqual(try free.json()["rows"], [["one": 1]]))
    }
}

extension RawHTTP {
    /// Whether the server has sent something (without reading it).
    var hasReply: Bool {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, 0) > 0
    }
}
