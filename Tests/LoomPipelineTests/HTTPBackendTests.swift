import Foundation
import LoomImage
@testable import LoomPipeline
import LoomStore
import LoomTestSupport
import Testing

@Suite("http: backends against a local fake server", .serialized)
struct HTTPBackendTests {
    static func png(width: Int = 32, height: Int = 24) throws -> [UInt8] {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) {
            pixels[i * 3] = UInt8(i % 256)
            pixels[i * 3 + 1] = UInt8((i / width) * 8 % 256)
            pixels[i * 3 + 2] = 200
        }
        return try pixels.withUnsafeBytes { try PNGCodec.encode($0, width: width, height: height, channels: 3) }
    }

    static func input(_ id: Int64 = 1) throws -> CaptionInput {
        CaptionInput(realImageID: id, bytes: try PipelineFixture.solidJPEG(width: 16, height: 16, rgb: (200, 10, 10)), mediaType: "image/jpeg")
    }

    @Test func captionRunSendsImagesAsDataURLsAndStoresTheModelsCaptions() throws {
        let server = try HTTPTestServer(png: try Self.png())
        defer { server.stop() }
        let (temp, store) = try PipelineFixture.makeStore()
        defer { withExtendedLifetime(temp) {} }
        let writer = try store.makeWriter()
        let spec = "http:\(server.base)/v1/?model=test-vlm&prompt=Say+what%20you+see&max_tokens=40"
        let captioner = try Backends.captioner(spec)
        #expect(captioner.name == "test-vlm" && captioner.backend == spec)
        #expect(captioner.params == ["prompt": "Say what you see", "max_tokens": "40", "temperature": "0"])

        let summary = try CaptionRun.run(writer: writer, dataset: "ds", captioner: captioner, batchSize: 2)
        #expect(summary.captioned == 5 && summary.failed.isEmpty && summary.captioner == "test-vlm", "\(summary)")

        let rows = try store.captionDetails()
        #expect(rows.count == 5)
        for row in rows {
            let rawSize = try #require(try store.read { try $0.blobs.blob(row.digest) }).location.rawSize
            // The server saw the image's exact bytes (it reports their count) and the prompt; the
            // caption comes back trimmed.
            #expect(row.text == "caption by test-vlm: \(rawSize) bytes, prompt=Say what you see")
            #expect(row.captioner == "test-vlm" && row.captionerBackend == spec)
            #expect(row.captionerParams == #"{"max_tokens":"40","prompt":"Say what you see","temperature":"0","version":""}"#)
        }
        let requests = try server.requests()
        #expect(requests.count == 5 && requests.allSatisfy { $0.path == "/v1/chat/completions" && $0.body["model"] as? String == "test-vlm" })

        // A rerun sends nothing.
        let again = try CaptionRun.run(writer: writer, dataset: "ds", captioner: try Backends.captioner(spec))
        #expect(again.captioned == 0 && again.skipped == 5)
        #expect(try server.requests().count == 5)

        // Without model=, the first model the server lists.
        let listed = try Backends.captioner("http:\(server.base)/v1")
        #expect(listed.name == "served-vlm" && listed.params["prompt"] == HTTPCaptioner.defaultPrompt)
        let texts = listed.caption([try Self.input()])
        #expect(try texts[0].get().hasPrefix("caption by served-vlm: "))
    }

    @Test func captionerFailuresAreClearAndPerImage() throws {
        let server = try HTTPTestServer(png: try Self.png())
        defer { server.stop() }
        let (temp, store) = try PipelineFixture.makeStore()
        defer { withExtendedLifetime(temp) {} }
        let writer = try store.makeWriter()

        let garbage = try CaptionRun.run(writer: writer, dataset: "ds",
                                         captioner: try Backends.captioner("http:\(server.base)/garbage/v1?model=m"), batchSize: 3)
        #expect(garbage.captioned == 0 && garbage.failed.count == 5)
        let error = try #require(garbage.failed.first?.error)
        #expect(error.contains("POST \(server.base)/garbage/v1/chat/completions") && error.contains("not JSON")
                && error.contains("502 Bad Gateway from a proxy"), "\(error)")

        let missing = try Backends.captioner("http:\(server.base)/missing/v1?model=m").caption([try Self.input()])
        #expect("\(missing[0])".contains("no choices[0].message"), "\(missing[0])")

        // A request the server rejects: the status and body are in the error.
        let rejected = try Backends.captioner("http:\(server.base)/v1?model=m")
            .caption([CaptionInput(realImageID: 1, bytes: Array("not an image".utf8), mediaType: "image/jpeg")])
        #expect("\(rejected[0])".contains("HTTP 400") && "\(rejected[0])".contains("not an image"), "\(rejected[0])")

        let slow = try Backends.captioner("http:\(server.base)/slow/v1?model=m&timeout=0.5").caption([try Self.input()])
        #expect("\(slow[0])".contains("timed out"), "\(slow[0])")

        // Nothing listens on port 1.
        let refused = try Backends.captioner("http:http://127.0.0.1:1/v1?model=m").caption([try Self.input(), try Self.input(2)])
        #expect(refused.count == 2)
        #expect("\(refused[1])".contains("http://127.0.0.1:1/v1/chat/completions") && "\(refused[1])".contains("cannot reach"), "\(refused[1])")
        // ... and without a model there is nothing to name the captioner after.
        #expect { try Backends.captioner("http:http://127.0.0.1:1/v1") } throws: { "\($0)".contains("model=") }

        #expect { try Backends.captioner("http:\(server.base)/v1?modle=x") } throws: { "\($0)".contains("unknown option \"modle\"") }
        #expect { try Backends.captioner("http:\(server.base)/v1?model=m&max_tokens=lots") } throws: { "\($0)".contains("max_tokens") }
        #expect { try Backends.captioner("http:localhost:8000") } throws: { "\($0)".contains("builtin:stats") }
    }

    @Test func generateRunPostsTxt2imgAndRetriesServerErrors() throws {
        let png = try Self.png()
        let server = try HTTPTestServer(png: png, failWord: "tabby")
        defer { server.stop() }
        let (temp, store, writer) = try GenerateRunTests.storeWithPrompts()
        defer { withExtendedLifetime(temp) {} }

        let generator = try Backends.generator("http:\(server.base)/?model=fake-sd&sampler=Euler+a")
        #expect(generator.name == "fake-sd" && generator.version == "fake-sd.safetensors [0123abcd]")
        #expect(generator.params == ["sampler": "Euler a"])
        let summary = try GenerateRun.run(writer: writer, dataset: "ds", generator: generator, options: GenerateRunTests.options())
        #expect(summary.planned == 6 && summary.generated == 3 && summary.failed.count == 3, "\(summary)")
        for failure in summary.failed {
            #expect(failure.attempts == 3)
            #expect(failure.error.contains("POST \(server.base)/sdapi/v1/txt2img: HTTP 500") && failure.error.contains("CUDA out of memory"),
                    "\(failure.error)")
        }

        let rows = try store.syntheticFacts()
        #expect(rows.count == 3)
        for row in rows {
            #expect(row.lineage.prompt == "goldfish" && row.mediaType == "image/png")
            #expect(try store.blobs.read(digest: row.record.digest) == png)
            #expect(row.lineage.generator == "fake-sd" && row.lineage.generatorVersion == "fake-sd.safetensors [0123abcd]")
        }

        // One request per image and attempt, with the run's settings and each image's seed.
        let requests = try server.requests()
        #expect(requests.count == 3 + 3 * 3)
        #expect(requests.allSatisfy { request in
            request.path == "/sdapi/v1/txt2img" && request.body["steps"] as? Int == 20 && request.body["cfg_scale"] as? Double == 5
                && request.body["width"] as? Int == 32 && request.body["height"] as? Int == 24 && request.body["batch_size"] as? Int == 1
                && request.body["sampler_name"] as? String == "Euler a" && request.auth == nil
        })
        let goldfishSeeds = Set(requests.filter { $0.body["prompt"] as? String == "goldfish" }.compactMap { $0.body["seed"] as? Int64 })
        #expect(goldfishSeeds == Set(rows.map(\.record.row.seed)))
    }

    @Test func generatorRejectsAnswersThatAreNotImages() throws {
        let server = try HTTPTestServer(png: try Self.png())
        defer { server.stop() }
        let request = GenerationRequest(promptID: 1, prompt: "a fish", seed: 3, steps: 4, guidance: 2, width: 32, height: 24)

        let good = try Backends.generator("http:\(server.base)").generate([request])
        #expect(try good[0].get().mediaType == "image/png")

        let notImage = try Backends.generator("http:\(server.base)/notimage").generate([request])
        #expect("\(notImage[0])".contains("not a readable PNG or JPEG"), "\(notImage[0])")
        let garbage = try Backends.generator("http:\(server.base)/garbage").generate([request])
        #expect("\(garbage[0])".contains("not JSON"), "\(garbage[0])")
        let missing = try Backends.generator("http:\(server.base)/missing").generate([request, request])
        #expect(missing.count == 2 && "\(missing[1])".contains("no images"), "\(missing[1])")

        // No server: a clear error per image, and no version (nothing to ask).
        let down = try Backends.generator("http:http://127.0.0.1:1")
        #expect(down.name == "a1111-txt2img" && down.version == "" && down.params.isEmpty)
        #expect("\(down.generate([request])[0])".contains("cannot reach"))
        #expect { try Backends.generator("http://localhost:7860") } throws: { "\($0)".contains("builtin:procedural") }

        // The bearer token goes in the Authorization header.
        let client = HTTPClient(timeout: 5, token: "secret")
        _ = try client.send(try #require(URL(string: "\(server.base)/sdapi/v1/txt2img")), json: [
            "prompt": "x", "seed": 1, "steps": 1, "cfg_scale": 1.5, "width": 8, "height": 8, "batch_size": 1,
        ])
        #expect(try server.requests().last?.auth == "Bearer secret")
    }
}
