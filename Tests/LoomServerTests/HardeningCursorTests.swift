import Foundation
import LoomTestSupport
import Testing

/// Finding 7 of the hardening review over HTTP: a cursor names the stream it was cut from.
extension ServerTests {
    @Test("a cursor from another selection is a 400 naming cursor; loom1 cursors still resume", .tags(.hardening))
    func cursorFingerprintIsChecked() throws {
        let fixture = try ServerFixture()
        try fixture.start()
        defer { _ = try? fixture.stop() }
        var cursor = ""
        do {
            let (connection, head) = try openStream(fixture, "selection=pets:train&batch=2&size=16&seed=3")
            #expect(head.status == 200)
            cursor = try #require(try Frame.read(connection)).cursor
        }
        #expect(cursor.hasPrefix("loom2.3.0.2.0.1.") && cursor.count == "loom2.3.0.2.0.1.".count + 8, "\(cursor)")

        let other = try fixture.get("/v1/batches?selection=pets:val&batch=2&size=16&cursor=\(cursor)")
        #expect(other.status == 400 && other.error.contains("parameter cursor") && other.error.contains("another selection"),
                "\(other)")
        let same = try fixture.get("/v1/batches?selection=pets:train&batch=2&size=16&cursor=\(cursor)")
        #expect(same.status == 200, "\(same)")
        let old = try fixture.get("/v1/batches?selection=pets:val&batch=2&size=16&cursor=loom1.3.0.2.0.1")
        #expect(old.status == 200, "a loom1 cursor has no fingerprint and is accepted: \(old)")
    }
}
