import Foundation
import LoomStore
import LoomTestSupport
import Testing

extension ServerTests {
    @Test("POST /v1/ingest validates like loom ingest: good files go in, bad ones come back with file and reason")
    func ingestUpload() throws {
        let fixture = try ServerFixture(classes: ["cat"], trainPerClass: 2, valPerClass: 0)
        try fixture.start()
        defer { _ = try? fixture.stop() }
        let good = FixtureImages.jpeg(width: 40, height: 30, seed: 99)
        let png = FixtureImages.png(width: 20, height: 20, seed: 98)
        let truncated = Array(FixtureImages.jpeg(width: 64, height: 48, seed: 97).prefix(200))
        // The truncated JPEG sorts last: after a failed JPEG header, the ingest worker's decoder
        // rejects the next good JPEG too (a LoomImage bug, reported; `loom ingest` does the same).
        let (type, body) = ServerFixture.multipart([("new.jpg", good), ("small.png", png), ("zz-broken.jpg", truncated),
                                                    ("notes.txt", Array("hello".utf8))])
        let reply = try fixture.post("/v1/ingest?dataset=uploads&split=train&class=bird",
                                     headers: [fixture.authorization, ("Content-Type", type)], body: body)
        #expect(reply.status == 200, "\(reply)")
        let summary = try reply.json()
        #expect(summary["added"] as? Int == 2)
        let rejected = (summary["rejected"] as? [[String: Any]] ?? []).compactMap { $0["path"] as? String }
        #expect(Set(rejected) == ["bird/zz-broken.jpg", "bird/notes.txt"], "\(summary)")
        #expect((summary["rejected"] as? [[String: Any]])?.allSatisfy { !($0["reason"] as? String ?? "").isEmpty } == true)

        let listed = try fixture.loom(["ls", "--dataset", "uploads", "--json"]).jsonLines().compactMap { $0 as? [String: Any] }
        #expect(Set(listed.compactMap { $0["path"] as? String }) == ["bird/new.jpg", "bird/small.png"])
        #expect(try fixture.get("/v1/blobs/\(Digest.sha256(good).hex)").body == good)
        try fixture.loom(["verify"])

        // The same upload again changes nothing stored.
        let again = try fixture.post("/v1/ingest?dataset=uploads&split=train&class=bird",
                                     headers: [fixture.authorization, ("Content-Type", type)], body: body)
        #expect(try again.json()["added"] as? Int == 0, "\(again)")
        #expect(try fixture.loom(["ls", "--dataset", "uploads", "--json"]).jsonLines().count == 2)

        // Captions in `loom caption import`'s format.
        let lines = """
            {"path": "bird/new.jpg", "caption": "a small bird on a branch"}
            {"digest": "\(Digest.sha256(png).hex)", "caption": "a square picture"}
            {"path": "bird/missing.jpg", "caption": "nothing"}
            """
        let captions = try fixture.post("/v1/captions?dataset=uploads&captioner=people", headers: [fixture.authorization],
                                        body: Array(lines.utf8))
        #expect(captions.status == 200, "\(captions)")
        let imported = try captions.json()
        #expect(imported["imported"] as? Int == 2 && (imported["failed"] as? [[String: Any]])?.first?["line"] as? Int == 3)
        let lineage = try fixture.get("/v1/lineage/\(Digest.sha256(good).hex)").json()
        #expect(((lineage["captions"] as? [[String: Any]])?.first?["text"] as? String) == "a small bird on a branch")
        #expect(try fixture.post("/v1/captions?dataset=nope&captioner=x", headers: [fixture.authorization], body: Array(lines.utf8)).status == 404)
    }

    @Test("writes without a token, with a wrong one, or with writes off are refused (401/403) and change nothing")
    func writesNeedTheToken() throws {
        let fixture = try ServerFixture(classes: ["cat"], trainPerClass: 2, valPerClass: 0)
        try fixture.start()
        let before = try fixture.catalogCounts()
        let (type, body) = ServerFixture.multipart([("x.jpg", FixtureImages.jpeg(width: 30, height: 30, seed: 5))])
        let captions = Array(#"{"path": "train/cat/img0.jpg", "caption": "x"}"#.utf8)
        let attempts: [(String, [(String, String)], Int)] = [
            ("none", [], 401),
            ("not bearer", [("Authorization", "Basic dXNlcjpwYXNz")], 401),
            ("empty bearer", [("Authorization", "Bearer ")], 401),
            ("wrong", [("Authorization", "Bearer wrong-token")], 403),
            ("prefix of the right one", [("Authorization", "Bearer s3cret")], 403),
            ("right one plus more", [("Authorization", "Bearer \(ServerFixture.token)x")], 403),
        ]
        for (name, headers, status) in attempts {
            let ingest = try fixture.post("/v1/ingest?dataset=pets&class=cat", headers: headers + [("Content-Type", type)], body: body)
            #expect(ingest.status == status, "\(name): \(ingest)")
            #expect(!ingest.error.isEmpty)
            if status == 401 { #expect(ingest.header("www-authenticate")?.hasPrefix("Bearer") == true) }
            let caption = try fixture.post("/v1/captions?dataset=pets&captioner=x", headers: headers, body: captions)
            #expect(caption.status == status, "\(name): \(caption)")
        }
        #expect(try fixture.catalogCounts() == before)
        _ = try fixture.stop()

        // No token configured: writes are off, even with a token.
        try fixture.start(token: false)
        defer { _ = try? fixture.stop() }
        let off = try fixture.post("/v1/ingest?dataset=pets&class=cat", headers: [fixture.authorization, ("Content-Type", type)], body: body)
        #expect(off.status == 403 && off.error.contains("writes are disabled"), "\(off)")
        #expect(try fixture.get("/healthz").json()["writes"] as? Bool == false)
        #expect(try fixture.catalogCounts() == before)
    }

    @Test("path traversal in a path or query parameter or an upload's filename is refused")
    func traversalIsRefused() throws {
        let fixture = try ServerFixture(classes: ["cat"], trainPerClass: 2, valPerClass: 0)
        try fixture.start()
        defer { _ = try? fixture.stop() }
        let before = try fixture.catalogCounts()
        for target in [
            "/v1/blobs/../stats", "/v1/blobs/%2e%2e/%2e%2e/etc/passwd", "/v1/lineage/..%2f..%2fcatalog.sqlite",
            "/../../etc/passwd", "/v1/%2E%2E/v1/stats", "/v1/runs/..%5c..%5cx", "/v1/blobs/%00",
        ] {
            let reply = try fixture.get(target)
            #expect(reply.status == 400, "\(target): \(reply)")
            #expect(reply.error.contains("traversal") || reply.error.contains("path"), "\(target): \(reply.error)")
        }
        for target in [
            "/v1/images?dataset=..", "/v1/images?dataset=pets&split=..%2F..%2Fetc", "/v1/classes?dataset=..%2fstore",
            "/v1/images?dataset=pets&class=a%5cb", "/v1/synthetic?class=../x", "/v1/batches?selection=..%2Fx:train",
            "/v1/batches?selection=pets:..", "/v1/runs?stage=%2e%2e",
        ] {
            let reply = try fixture.get(target)
            #expect(reply.status == 400 && reply.error.contains("parameter"), "\(target): \(reply)")
        }
        let outside = fixture.scratch.appending("escaped.jpg")
        for filename in ["../escaped.jpg", "../../escaped.jpg", "a/../../escaped.jpg", "..", "sub\\x.jpg"] {
            let (type, body) = ServerFixture.multipart([(filename, FixtureImages.jpeg(width: 20, height: 20, seed: 3))])
            let reply = try fixture.post("/v1/ingest?dataset=pets&class=cat", headers: [fixture.authorization, ("Content-Type", type)], body: body)
            #expect(reply.status == 400, "\(filename): \(reply)")
        }
        for query in ["dataset=..&class=cat", "dataset=pets&class=..%2F..", "dataset=pets&class=cat&split=..%2fx"] {
            let (type, body) = ServerFixture.multipart([("ok.jpg", FixtureImages.jpeg(width: 20, height: 20, seed: 3))])
            let reply = try fixture.post("/v1/ingest?\(query)", headers: [fixture.authorization, ("Content-Type", type)], body: body)
            #expect(reply.status == 400, "\(query): \(reply)")
        }
        #expect(!FileManager.default.fileExists(atPath: outside))
        #expect(try fixture.catalogCounts() == before)
    }

    @Test("oversized uploads get 413 and store nothing")
    func oversizedUploads() throws {
        let fixture = try ServerFixture(classes: ["cat"], trainPerClass: 2, valPerClass: 0)
        try fixture.start(extra: ["--max-upload-bytes", "20000"])
        defer { _ = try? fixture.stop() }
        let before = try fixture.catalogCounts()
        let big = FixtureImages.jpeg(width: 400, height: 300, seed: 8)
        #expect(big.count > 20000)
        let (type, body) = ServerFixture.multipart([("big.jpg", big)])
        let announced = try fixture.post("/v1/ingest?dataset=pets&class=cat", headers: [fixture.authorization, ("Content-Type", type)], body: body)
        #expect(announced.status == 413 && announced.error.contains("20000"), "\(announced)")
        // Chunked, so the size is found while reading rather than from Content-Length.
        let connection = try RawHTTP(port: fixture.port)
        var chunked: [UInt8] = []
        for start in stride(from: 0, to: body.count, by: 4096) {
            let piece = body[start..<min(start + 4096, body.count)]
            chunked += Array(String(piece.count, radix: 16).utf8) + [13, 10] + piece + [13, 10]
        }
        chunked += Array("0\r\n\r\n".utf8)
        try connection.sendRequest("POST", "/v1/ingest?dataset=pets&class=cat",
                                   headers: [fixture.authorization, ("Content-Type", type), ("Transfer-Encoding", "chunked")], body: chunked)
        let streamed = try connection.readReply()
        #expect(streamed.status == 413, "\(streamed)")
        let captions = try fixture.post("/v1/captions?dataset=pets&captioner=x", headers: [fixture.authorization],
                                        body: [UInt8](repeating: 0x20, count: 30000))
        #expect(captions.status == 413)
        #expect(try fixture.catalogCounts() == before)
    }

    @Test("malformed or unknown query parameters give 400 naming the parameter; SQL cannot write")
    func badParameters() throws {
        let fixture = try ServerFixture(classes: ["cat"], trainPerClass: 2, valPerClass: 0)
        try fixture.start()
        defer { _ = try? fixture.stop() }
        let cases: [(String, String)] = [
            ("/v1/images?limit=abc", "limit"), ("/v1/images?limit=0", "limit"), ("/v1/images?offset=-1", "offset"),
            ("/v1/images?limt=3", "limt"), ("/v1/images?dataset=%zz", "dataset"), ("/v1/images?dataset=a&dataset=b", "dataset"),
            ("/v1/images?split=train", "split"), ("/v1/runs/abc", "id"), ("/v1/blobs/nothex!", "digest"),
            ("/v1/batches", "selection"), ("/v1/batches?selection=pets", "selection"), ("/v1/batches?selection=pets:train&batch=0", "batch"),
            ("/v1/batches?selection=pets:train&size=99999", "size"), ("/v1/batches?selection=pets:train&augment=sideways", "augment"),
            ("/v1/batches?selection=pets:train&seed=-1", "seed"), ("/v1/batches?selection=pets:train&rank=2&world=2", "rank"),
            ("/v1/batches?selection=pets:train&cursor=nonsense", "cursor"),
            ("/v1/batches?selection=pets:train&cursor=loom1.1.0.0.0.1&seed=2", "seed"),
            ("/v1/sql", "q"), ("/v1/stats?verbose=1", "verbose"),
        ]
        for (target, parameter) in cases {
            let reply = try fixture.get(target)
            #expect(reply.status == 400, "\(target): \(reply)")
            #expect(reply.error.contains(parameter), "\(target): \(reply.error)")
        }
        #expect(try fixture.get("/v1/batches?selection=nope:train").status == 404)

        let before = try fixture.catalogCounts()
        for statement in ["DELETE FROM real_images", "UPDATE blobs SET codec = 'lz4'", "DROP TABLE shards",
                          "INSERT INTO datasets (name) VALUES ('x')", "PRAGMA user_version = 99",
                          "ATTACH DATABASE '\(fixture.scratch.appending("other.db"))' AS other"] {
            let encoded = statement.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            let reply = try fixture.get("/v1/sql?q=\(encoded)")
            #expect(reply.status == 403 || reply.status == 400, "\(statement): \(reply)")
            #expect(reply.error.contains("read-only") || reply.error.contains("unable to open"), "\(statement): \(reply.error)")
        }
        #expect(!FileManager.default.fileExists(atPath: fixture.scratch.appending("other.db")))
        #expect(try fixture.catalogCounts() == before)
        let syntax = try fixture.get("/v1/sql?q=SELEC%20nothing")
        #expect(syntax.status == 400 && syntax.error.contains("syntax error"))
    }
}
