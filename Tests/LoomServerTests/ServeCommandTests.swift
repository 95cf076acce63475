import Foundation
import LoomTestSupport
import Testing

/// `loom serve` as an async command under the async root: its failures still print as every
/// command's do.
extension ServerTests {
    @Test("loom serve --json on a port already taken exits non-zero with the JSON error document on stdout")
    func bindFailureIsReportedAsJSON() throws {
        let fixture = try ServerFixture(classes: ["cat"], trainPerClass: 1, valPerClass: 0)
        try fixture.start(token: false)
        defer { _ = try? fixture.stop() }
        let second = try Child(["serve", "--store", fixture.store, "--port", String(fixture.port), "--json"],
                               directory: fixture.scratch.path).wait(timeout: 60)
        #expect(second.status != 0, "\(second)")
        #expect(!second.stdoutText.contains("listening"), "\(second)")
        let last = second.stdoutText.split(separator: "\n").last.map(String.init) ?? ""
        let document = try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any]
        let error = document?["error"] as? [String: Any]
        #expect(error?["code"] as? String == "internal" && !((error?["message"] as? String) ?? "").isEmpty, "\(second)")
        #expect(try fixture.get("/v1/datasets").status == 200, "the first server still serves")
    }
}
