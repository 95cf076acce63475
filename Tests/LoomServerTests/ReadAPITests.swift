import Foundation
import LoomStore
import Testing

extension ServerTests {
    @Test("read endpoints answer with the CLI's JSON: stats, datasets, classes, images (paged), lineage, synthetic, sql, runs")
    func readEndpoints() throws {
        let fixture = try ServerFixture(pipeline: true)
        try fixture.start()
        defer { _ = try? fixture.stop() }

        let stats = try fixture.get("/v1/stats")
        #expect(stats.status == 200 && stats.header("content-type")?.hasPrefix("application/json") == true, "\(stats)")
        #expect(jsonEqual(try stats.json(), try fixture.loom(["stats", "--json"]).json()))

        let datasets = try fixture.get("/v1/datasets").json()["datasets"] as? [[String: Any]]
        #expect(datasets?.count == 1)
        #expect(datasets?.first?["name"] as? String == "pets" && datasets?.first?["images"] as? Int == 18)
        #expect((datasets?.first?["synthetic"] as? Int ?? 0) > 0, "\(String(describing: datasets))")

        let classes = try fixture.get("/v1/classes?dataset=pets").json()["classes"] as? [[String: Any]]
        #expect(classes?.map { $0["wnid"] as? String } == ["cat", "dog", "fox"])
        #expect(classes?.map { $0["images"] as? Int } == [6, 6, 6])
        #expect(try fixture.get("/v1/classes?dataset=nope").status == 404)

        // Pages of 5 put together are exactly `loom ls`.
        let ls = try fixture.loom(["ls", "--dataset", "pets", "--json"]).jsonLines().compactMap { $0 as? [String: Any] }
        var paged: [[String: Any]] = []
        var offset: Int? = 0
        while let current = offset {
            let page = try fixture.get("/v1/images?dataset=pets&limit=5&offset=\(current)").json()
            paged += page["images"] as? [[String: Any]] ?? []
            offset = page["next_offset"] as? Int
            #expect(paged.count <= 18)
        }
        #expect(paged.count == ls.count)
        for (a, b) in zip(paged, ls) {
            for key in ["digest", "split", "class", "label", "path", "width", "height"] {
                #expect(jsonEqual(a[key], b[key]), "\(key): \(String(describing: a[key])) vs \(String(describing: b[key]))")
            }
        }
        let cats = try fixture.get("/v1/images?dataset=pets&split=val&class=cat").json()["images"] as? [[String: Any]]
        #expect(cats?.count == 2 && cats?.allSatisfy { $0["class"] as? String == "cat" && $0["split"] as? String == "val" } == true)

        // Lineage of a real and of a synthetic image, as `loom lineage --json`.
        let real = try #require(ls.first?["digest"] as? String)
        #expect(jsonEqual(try fixture.get("/v1/lineage/\(real)").json(), try fixture.loom(["lineage", real, "--json"]).json()))
        let synthetic = try fixture.loom(["synthetic", "--json"]).jsonLines()
        let served = try fixture.get("/v1/synthetic?limit=1000").json()["synthetic"] as? [Any]
        #expect(jsonEqual(served, synthetic))
        let oneSynthetic = try #require((synthetic.first as? [String: Any])?["digest"] as? String)
        #expect(jsonEqual(try fixture.get("/v1/lineage/\(oneSynthetic)").json(),
                          try fixture.loom(["lineage", oneSynthetic, "--json"]).json()))
        let dogs = try fixture.get("/v1/synthetic?class=dog&strategy=class-caption").json()["synthetic"] as? [[String: Any]]
        #expect(dogs?.isEmpty == false && dogs?.allSatisfy { $0["class"] as? String == "dog" } == true)
        #expect(try fixture.get("/v1/lineage/\(String(repeating: "0", count: 64))").status == 404)

        let sql = try fixture.get("/v1/sql?q=SELECT%20class,%20count(*)%20AS%20n%20FROM%20v_real_images%20GROUP%20BY%20class%20ORDER%20BY%20class").json()
        #expect(sql["columns"] as? [String] == ["class", "n"])
        #expect(jsonEqual(sql["rows"], [["class": "cat", "n": 6], ["class": "dog", "n": 6], ["class": "fox", "n": 6]]))
        let limited = try fixture.get("/v1/sql?q=SELECT%20*%20FROM%20blobs&limit=2").json()
        #expect((limited["rows"] as? [Any])?.count == 2 && limited["truncated"] as? Bool == true)

        let runs = try fixture.get("/v1/runs").json()["runs"] as? [[String: Any]]
        let stages = Set(runs?.compactMap { $0["stage"] as? String } ?? [])
        #expect(stages.isSuperset(of: ["ingest", "generate"]), "\(stages)")
        let id = try #require(runs?.first?["id"] as? Int)
        let detail = try fixture.get("/v1/runs/\(id)").json()
        #expect((detail["run"] as? [String: Any])?["id"] as? Int == id && detail["epochs"] is [Any])
        #expect(try fixture.get("/v1/runs/\(id)/metrics").json()["run_id"] as? Int == id)
        #expect(try fixture.get("/v1/runs/999999").status == 404)

        let health = try fixture.get("/healthz").json()
        #expect(health["status"] as? String == "ok" && health["writes"] as? Bool == true)
    }

    @Test("blobs: original bytes, media type, ETag and 304, single ranges (206, suffix, 416), HEAD")
    func blobs() throws {
        let fixture = try ServerFixture(classes: ["cat"], trainPerClass: 3, valPerClass: 0)
        try fixture.start(token: false)
        defer { _ = try? fixture.stop() }
        for (path, bytes) in fixture.files {
            let digest = Digest.sha256(bytes).hex
            let reply = try fixture.get("/v1/blobs/\(digest)")
            #expect(reply.status == 200 && reply.body == bytes, "\(path): \(reply.status)")
            #expect(reply.header("content-type") == (path.hasSuffix(".png") ? "image/png" : "image/jpeg"))
            #expect(reply.header("etag") == "\"\(digest)\"")
            #expect(try fixture.get("/v1/blobs/\(digest.prefix(12))").body == bytes, "a unique prefix is enough")

            let cached = try fixture.get("/v1/blobs/\(digest)", headers: [("If-None-Match", "\"\(digest)\"")])
            #expect(cached.status == 304 && cached.body.isEmpty)
            #expect(try fixture.get("/v1/blobs/\(digest)", headers: [("If-None-Match", "\"other\"")]).status == 200)

            let part = try fixture.get("/v1/blobs/\(digest)", headers: [("Range", "bytes=10-19")])
            #expect(part.status == 206 && part.body == Array(bytes[10...19]))
            #expect(part.header("content-range") == "bytes 10-19/\(bytes.count)")
            let suffix = try fixture.get("/v1/blobs/\(digest)", headers: [("Range", "bytes=-5")])
            #expect(suffix.status == 206 && suffix.body == Array(bytes.suffix(5)))
            let open = try fixture.get("/v1/blobs/\(digest)", headers: [("Range", "bytes=\(bytes.count - 3)-")])
            #expect(open.status == 206 && open.body == Array(bytes.suffix(3)))
            // Only a valid range past the end is refused; invalid ones are ignored (HardeningServerTests).
            for bad in ["bytes=\(bytes.count)-", "bytes=-0"] {
                let refused = try fixture.get("/v1/blobs/\(digest)", headers: [("Range", bad)])
                #expect(refused.status == 416 && refused.header("content-range") == "bytes */\(bytes.count)", "\(bad): \(refused)")
            }
            let head = try RawHTTP.request(fixture.port, "HEAD", "/v1/blobs/\(digest)")
            #expect(head.status == 200 && head.header("content-length") == String(bytes.count))
        }
        #expect(try fixture.get("/v1/blobs/\(String(repeating: "a", count: 64))").status == 404)
        let bad = try fixture.get("/v1/blobs/xyz")
        #expect(bad.status == 400 && bad.error.contains("digest"), "\(bad)")
    }

    @Test("/metrics is Prometheus text with per-route request counts; SIGTERM stops the server cleanly")
    func metricsAndShutdown() throws {
        let fixture = try ServerFixture(classes: ["cat"], trainPerClass: 2, valPerClass: 0)
        try fixture.start(token: false)
        for _ in 0..<3 { _ = try fixture.get("/v1/stats") }
        _ = try fixture.get("/v1/nothing-here")
        let metrics = try fixture.get("/metrics")
        #expect(metrics.status == 200 && metrics.header("content-type")?.hasPrefix("text/plain") == true)
        let text = metrics.text
        #expect(text.contains(#"loom_http_requests_total{method="GET",route="/v1/stats",status="200"} 3"#), "\(text.prefix(3000))")
        #expect(text.contains(#"route="NotFound",status="404""#))
        #expect(text.contains("# TYPE loom_http_request_duration_seconds histogram"))
        #expect(text.contains("loom_loader_queue_depth"))
        #expect(text.contains("loom_batches_total"))
        let notFound = try fixture.get("/v1/nothing-here")
        #expect(notFound.status == 404 && notFound.header("content-type")?.hasPrefix("application/json") == true)

        let run = try fixture.stop()
        #expect(run.status == 0, "\(run)")
        // Structured logs: one JSON object per line on stderr, one per request.
        let lines = run.stderrText.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(lines.contains { $0["message"] as? String == "request" && $0["route"] as? String == "/v1/stats" && $0["status"] as? String == "200" })
        #expect(lines.contains { $0["message"] as? String == "stopped" }, "\(run.stderrText.suffix(2000))")
    }
}
