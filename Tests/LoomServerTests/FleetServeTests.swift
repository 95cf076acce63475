import Foundation
import LoomTestSupport
import Testing

extension ServerTests {
    @Test("loom serve on a fleet store (from LOOM_CATALOG/LOOM_BLOBS, an empty working folder): stats, images and blob bytes come from PostgreSQL and S3; an upload with the token lands in the fleet",
          FleetEnginesTrait.required)
    func serveOnAFleetStore() async throws {
        let seaweed = try await SeaweedFSServer.started()
        let catalog = try PostgresServer.shared().makeDatabase(prefix: "loom_serve")
        let scratch = try TemporaryDirectory(prefix: "loom-serve-fleet-")
        var environment = seaweed.environment
        environment["LOOM_CATALOG"] = catalog
        environment["LOOM_BLOBS"] = "s3://\(seaweed.bucket)/serve"
        var files: [String: [UInt8]] = [:]
        for i in 0..<6 {
            let bytes = FixtureImages.jpeg(width: 64, height: 48, seed: 500 + UInt64(i))
            let path = "\(i % 2 == 0 ? "cat" : "dog")/img\(i).jpg"
            try scratch.write(bytes, to: "data/" + path)
            files[path] = bytes
        }
        try Loom.ok(["ingest", scratch.appending("data"), "--dataset", "pets", "--store", scratch.appending("writer")],
                    in: scratch.path, environment: environment)
        try scratch.write(ServerFixture.token + "\n", to: "token")
        let server = try Child(["serve", "--store", scratch.appending("server"), "--port", "0", "--json", "--workers", "2",
                                "--token-file", scratch.appending("token")], environment: environment, directory: scratch.path)
        var port = 0
        let deadline = Date().addingTimeInterval(60)
        while port == 0 && Date() < deadline && server.process.isRunning {
            if let line = String(decoding: server.stdout, as: UTF8.self).split(separator: "\n").first,
               let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] {
                port = object["port"] as? Int ?? 0
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(port > 0, "loom serve did not start on the fleet store: \(server.stderrText)")
        guard port > 0 else { return }

        let stats = try RawHTTP.request(port, "GET", "/v1/stats")
        #expect(stats.status == 200 && stats.text.contains("\"pets\""), "\(stats)")
        let images = try RawHTTP.request(port, "GET", "/v1/images?dataset=pets").json()["images"] as? [[String: Any]] ?? []
        #expect(images.count == files.count)
        for image in images {
            guard let digest = image["digest"] as? String, let path = image["path"] as? String else { continue }
            let blob = try RawHTTP.request(port, "GET", "/v1/blobs/\(digest)")
            #expect(blob.status == 200 && blob.body == files[path], "blob of \(path)")
        }
        let upload = FixtureImages.jpeg(width: 40, height: 30, seed: 777)
        let (type, body) = ServerFixture.multipart([("new.jpg", upload)])
        let posted = try RawHTTP.request(port, "POST", "/v1/ingest?dataset=uploads&split=train&class=bird",
                                         headers: [("Authorization", "Bearer \(ServerFixture.token)"), ("Content-Type", type)], body: body)
        #expect(posted.status == 200 && (try? posted.json())?["added"] as? Int == 1, "\(posted)")
        // Another machine sees it: a fresh working folder, through the CLI.
        let listed = try Loom.ok(["ls", "--dataset", "uploads", "--json", "--store", scratch.appending("reader")], in: scratch.path,
                                 environment: environment).jsonLines().compactMap { ($0 as? [String: Any])?["path"] as? String }
        #expect(listed == ["bird/new.jpg"])
        server.signal(SIGTERM)
        let ended = server.wait(timeout: 30)
        #expect(ended.status == 0, "\(ended)")
    }
}
