import Foundation
import LoomTestSupport
import Testing

@Suite("Hardening: upload names", .serialized)
struct HardeningUploadNamesTests {
    @Test("POST /v1/ingest: NFC and NFD spellings of one name are two files, not a repeat", .tags(.hardening))
    func equivalentUploadNamesStayApart() throws {
        let fixture = try ServerFixture()
        try fixture.start()
        defer { _ = try? fixture.stop() }
        let boundary = "loom-names-\(UUID().uuidString)"
        var body: [UInt8] = []
        for (index, name) in ["caf\u{E9}.jpg", "cafe\u{301}.jpg"].enumerated() {
            body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"file\(index)\"; filename=\"\(name)\"\r\nContent-Type: image/jpeg\r\n\r\n".utf8)
            body += FixtureImages.jpeg(width: 40, height: 30, seed: 880 + UInt64(index)) + Array("\r\n".utf8)
        }
        body += Array("--\(boundary)--\r\n".utf8)
        let reply = try fixture.post("/v1/ingest?dataset=pets&class=cat",
                                     headers: [fixture.authorization, ("Content-Type", "multipart/form-data; boundary=\(boundary)")],
                                     body: body)
        #expect(reply.status == 200, "\(reply)")
        #expect((try? reply.json())?["added"] as? Int == 2, "\(reply)")
    }
}
