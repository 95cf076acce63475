import Foundation
import Glibc
import LoomStore
import LoomTestSupport
import Testing

/// Hostile requests against a real `loom serve`: memory, rebinding, HTTP framing, uploads.
extension ServerTests {
    /// Sends `head` (and `body`) exactly as given on a fresh connection; the answer, read to its
    /// end (Content-Length, chunked, or the connection closing) within `timeout` seconds.
    func rawExchange(_ port: Int, _ head: String, body: [UInt8] = [], timeout: Int = 20) throws -> (RawHTTP, RawHTTP.Reply) {
        let connection = try RawHTTP(port: port)
        var limit = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(connection.fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        try connection.send(Array(head.utf8) + body)
        return (connection, try connection.readReply())
    }

    /// Whether the server closed the connection (EOF, not a receive timeout) after what was read.
    func closedByServer(_ connection: RawHTTP) -> Bool {
        (try? connection.readExactly(1)) == .some(nil)
    }

    // MARK: - Finding 1: memory per stream, streams at once

    @Test("GET /v1/batches: batch x size past the per-stream memory budget is a 400 naming the limit, and the server lives",
          .tags(.hardening))
    func batchStreamMemoryBudget() throws {
        let fixture = try ServerFixture()
        try fixture.start(extra: ["--stream-memory", "80MiB"])
        defer { _ = try? fixture.stop() }
        // 1000 x 4096 x 4096 x 3: 47 GiB a buffer, each parameter within its own range.
        let huge = try fixture.get("/v1/batches?selection=pets:train&batch=1000&size=4096")
        #expect(huge.status == 400, "\(huge)")
        #expect(huge.error.contains("memory budget of 80 MiB") && huge.error.contains("--stream-memory"), "\(huge)")
        #expect(try fixture.get("/healthz").status == 200)
        // 9.2 MiB a buffer: 3 fit beside the 5 frames in flight, so the loader runs with fewer
        // buffers than its default 4 and streams the same batches.
        let (connection, head) = try openStream(fixture, "selection=pets:train&batch=64&size=224")
        #expect(head.status == 200, "\(head)")
        var frames = 0
        while let frame = try Frame.read(connection), !frame.isEnd { frames += 1 }
        #expect(frames == 1)
        let tooBig = try fixture.get("/v1/batches?selection=pets:train&batch=256&size=224")
        #expect(tooBig.status == 400 && tooBig.error.contains("parameter batch"), "\(tooBig)")
    }

    @Test("GET /v1/batches past --max-streams is a 503 with Retry-After; a place frees when a stream's client goes",
          .tags(.hardening))
    func batchStreamLimit() throws {
        let fixture = try ServerFixture()
        try fixture.start(extra: ["--max-streams", "1"])
        defer { _ = try? fixture.stop() }
        // 77 MiB in all, far more than the socket buffers take: a client that reads nothing
        // holds its stream open (and the server holds no more than its budget for it).
        let query = "selection=pets:train&batch=4&size=256&epoch_length=400"
        do {
            let (holder, head) = try openStream(fixture, query)
            try withExtendedLifetime(holder) {
                #expect(head.status == 200, "\(head)")
                let refused = try fixture.get("/v1/batches?" + query)
                #expect(refused.status == 503, "\(refused)")
                #expect(refused.header("retry-after").flatMap(Int.init).map { $0 > 0 } == true, "\(refused)")
                #expect(refused.error.contains("--max-streams"), "\(refused)")
                #expect(try fixture.get("/healthz").status == 200, "other requests are still served")
            }
        }  // the reader goes away: its stream ends and its place frees
        var admitted: RawHTTP.Reply?
        // The server notices the reader is gone at its next frame.
        for _ in 0..<1500 {
            let reply = try RawHTTP.request(fixture.port, "GET", "/v1/batches?selection=pets:train&batch=12&size=8")
            if reply.status != 503 { admitted = reply; break }
            usleep(20_000)
        }
        #expect(admitted?.status == 200, "\(String(describing: admitted))")
    }

    // MARK: - Finding 10: DNS rebinding

    @Test("Host: a name the server was not bound to or given is refused with 421; loopback names and --allowed-host pass",
          .tags(.hardening))
    func hostHeaderChecked() throws {
        let fixture = try ServerFixture()
        try fixture.start(extra: ["--allowed-host", "loom.internal", "--allowed-host", "Data.Example.org"])
        defer { _ = try? fixture.stop() }
        let port = fixture.port
        for host in ["attacker.example", "attacker.example:\(port)", "127.0.0.1.attacker.example", "localhost.attacker.example",
                     "loom.internal.evil", "[::2]", "127.0.0.1:x", "user@127.0.0.1"] {
            let (_, reply) = try rawExchange(port, "GET /v1/stats HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n")
            #expect(reply.status == 421 || reply.status == 400, "Host \(host): \(reply)")
            #expect(!reply.text.contains("\"datasets\""), "Host \(host): the store must not be read")
        }
        let (_, rebound) = try rawExchange(port, "GET /v1/stats HTTP/1.1\r\nHost: attacker.example\r\nConnection: close\r\n\r\n")
        #expect(rebound.status == 421 && rebound.error.contains("--allowed-host"), "\(rebound)")
        for host in ["127.0.0.1", "127.0.0.1:\(port)", "localhost", "LOCALHOST:\(port)", "[::1]", "[::1]:\(port)",
                     "loom.internal", "loom.internal:443", "data.example.org", "data.example.org."] {
            let (_, reply) = try rawExchange(port, "GET /v1/stats HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n")
            #expect(reply.status == 200, "Host \(host): \(reply)")
        }
        let (_, twice) = try rawExchange(port, "GET /v1/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: attacker.example\r\nConnection: close\r\n\r\n")
        #expect(twice.status == 400 || twice.status == 421, "\(twice)")
    }

    // MARK: - Finding 11: HTTP framing, ranges, uploads, tokens

    @Test("CONNECT and HTTP/1.0 get answers that end: the connection closes after them", .tags(.hardening))
    func connectionsThatMustClose() throws {
        let fixture = try ServerFixture()
        try fixture.start()
        defer { _ = try? fixture.stop() }
        let port = fixture.port
        // Kept alive (no Connection: close): the old server answered 404 with no length and
        // kept the connection open, so the client waited forever for the body's end.
        let (connect, refused) = try rawExchange(port, "CONNECT 127.0.0.1:\(port) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n\r\n")
        #expect(refused.status >= 400, "\(refused)")
        #expect(closedByServer(connect))

        let (old, health) = try rawExchange(port, "GET /healthz HTTP/1.0\r\n\r\n")
        #expect(health.status == 200 && health.text.contains("ok"), "\(health)")
        #expect(closedByServer(old), "an HTTP/1.0 connection closes after its answer")

        let (closeWord, stats) = try rawExchange(port, "GET /v1/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Close\r\n\r\n")
        #expect(stats.status == 200, "\(stats)")
        #expect(closedByServer(closeWord), "Connection: Close (any case) closes")

        // A batch stream to an HTTP/1.0 client: not chunked (1.0 has no chunked coding), ended by the close.
        let (stream, frames) = try rawExchange(port, "GET /v1/batches?selection=pets:train&batch=4&size=8 HTTP/1.0\r\n\r\n")
        #expect(frames.status == 200 && frames.header("transfer-encoding") == nil, "\(frames)")
        #expect(frames.body.count == 3 * (128 + 4 * 8 * 8 * 3 + 4 * 8) + 128, "three batches and the end frame, unframed")
        #expect(Array(frames.body.prefix(8)) == Array("LOOMBAT1".utf8))
        _ = stream

        // Kept-alive HTTP/1.1 still works: two requests on one connection.
        let connection = try RawHTTP(port: port)
        try connection.sendRequest("GET", "/healthz", headers: [("Connection", "keep-alive")])
        #expect(try connection.readReply().status == 200)
        try connection.sendRequest("GET", "/healthz")
        #expect(try connection.readReply().status == 200)
    }

    @Test("Range: an invalid range is ignored (200, whole body); If-Range with a stale or weak validator or a date gets 200",
          .tags(.hardening))
    func rangesAndIfRange() throws {
        let fixture = try ServerFixture()
        try fixture.start()
        defer { _ = try? fixture.stop() }
        let path = "train/cat/img0.jpg"
        let bytes = try #require(fixture.files[path])
        let digest = Digest.sha256(bytes).hex
        let target = "/v1/blobs/\(digest)"
        for invalid in ["bytes=abc", "bytes=5-2", "bytes=x-2", "bytes=1-y", "bytes=--3", "bytes=", "bytes=3"] {
            let reply = try fixture.get(target, headers: [("Range", invalid)])
            #expect(reply.status == 200 && reply.body == bytes && reply.header("content-range") == nil, "\(invalid): \(reply)")
        }
        let etag = "\"\(digest)\""
        for validator in ["\"0000\"", "W/\(etag)", "Tue, 01 Dec 2026 00:00:00 GMT"] {
            let reply = try fixture.get(target, headers: [("Range", "bytes=0-9"), ("If-Range", validator)])
            #expect(reply.status == 200 && reply.body == bytes, "If-Range \(validator): \(reply)")
        }
        let fresh = try fixture.get(target, headers: [("Range", "bytes=0-9"), ("If-Range", etag)])
        #expect(fresh.status == 206 && fresh.body == Array(bytes[0...9]), "\(fresh)")
        let past = try fixture.get(target, headers: [("Range", "bytes=\(bytes.count)-")])
        #expect(past.status == 416, "a valid range past the end is still unsatisfiable: \(past)")
    }

    /// One multipart part with the Content-Disposition parameters given as raw bytes.
    static func rawPart(disposition: [UInt8], bytes: [UInt8]) -> (contentType: String, body: [UInt8]) {
        let boundary = "loom-hardening-\(UUID().uuidString)"
        var body = Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; ".utf8) + disposition
        body += Array("\r\nContent-Type: image/jpeg\r\n\r\n".utf8) + bytes + Array("\r\n--\(boundary)--\r\n".utf8)
        return ("multipart/form-data; boundary=\(boundary)", body)
    }

    @Test("POST /v1/ingest: a Latin-1 filename is refused (400 naming the part), filename*=UTF-8'' is accepted",
          .tags(.hardening))
    func uploadFilenameEncoding() throws {
        let fixture = try ServerFixture()
        try fixture.start()
        defer { _ = try? fixture.stop() }
        let jpeg = FixtureImages.jpeg(width: 40, height: 30, seed: 777)
        let before = try fixture.catalogCounts()
        let latin1 = Self.rawPart(disposition: Array("filename=\"caf".utf8) + [0xE9] + Array(".jpg\"".utf8), bytes: jpeg)
        let refused = try fixture.post("/v1/ingest?dataset=pets&class=cat", headers: [fixture.authorization, ("Content-Type", latin1.contentType)],
                                       body: latin1.body)
        #expect(refused.status == 400, "\(refused)")
        #expect(refused.error.contains("part \"file\"") && refused.error.contains("UTF-8"), "\(refused)")
        #expect(try fixture.catalogCounts() == before, "a refused upload changes nothing")

        let extended = Self.rawPart(disposition: Array("filename*=UTF-8''caf%C3%A9.jpg".utf8), bytes: jpeg)
        let accepted = try fixture.post("/v1/ingest?dataset=pets&class=cat", headers: [fixture.authorization, ("Content-Type", extended.contentType)],
                                        body: extended.body)
        #expect(accepted.status == 200, "\(accepted)")
        #expect((try? accepted.json())?["added"] as? Int == 1, "\(accepted)")
        let images = try fixture.get("/v1/images?dataset=pets&split=train&class=cat").json()["images"] as? [[String: Any]] ?? []
        #expect(images.contains { ($0["path"] as? String) == "cat/café.jpg" }, "\(images.map { $0["path"] ?? "" })")

        for (disposition, problem) in [("filename*=ISO-8859-1''caf%E9.jpg", "only UTF-8"), ("filename*=UTF-8''caf%E9.jpg", "percent-encoded UTF-8")] {
            let part = Self.rawPart(disposition: Array(disposition.utf8), bytes: jpeg)
            let reply = try fixture.post("/v1/ingest?dataset=pets&class=cat", headers: [fixture.authorization, ("Content-Type", part.contentType)],
                                         body: part.body)
            #expect(reply.status == 400 && reply.error.contains(problem), "\(disposition): \(reply)")
        }
    }

    @Test("loom serve refuses a write token shorter than 16 characters, naming the token file and the minimum", .tags(.hardening))
    func shortTokensRefused() throws {
        let fixture = try ServerFixture()
        let file = try fixture.scratch.write("x\n", to: "short-token")
        let run = try Child(["serve", "--store", fixture.store, "--port", "0", "--json", "--token-file", file],
                            directory: fixture.scratch.path).wait(timeout: 30)
        #expect(run.status != 0 && run.stderrText.contains(file) && run.stderrText.contains("16"), "\(run)")
        #expect(!run.stdoutText.contains("listening"), "\(run)")
        let environment = try Child(["serve", "--store", fixture.store, "--port", "0", "--json"],
                                    environment: ["LOOM_TOKEN": "short-token"], directory: fixture.scratch.path).wait(timeout: 30)
        #expect(environment.status != 0 && environment.stderrText.contains("LOOM_TOKEN") && environment.stderrText.contains("16"),
                "\(environment)")
    }
}
