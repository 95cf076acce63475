import Foundation
import LoomStore
import LoomTestSupport
import Testing

@Suite("PostgreSQL test cluster", .enabled(if: PostgresServer.unavailableReason == nil, "\(PostgresServer.unavailableReason ?? "")"))
struct PostgresServerTests {
    @Test("a private cluster serves loopback only, and goes away with its folder when its lifeline closes")
    func lifecycle() throws {
        let server = try PostgresServer.start()
        let url = try server.makeDatabase()
        #expect(url.contains("@127.0.0.1:\(server.port)/"))
        let catalog = try PostgresCatalog(url)
        var listening: [String] = []
        try PostgresReadOnlyQuery.run(catalog, sql: "SELECT setting FROM pg_settings WHERE name IN ('listen_addresses', 'fsync') ORDER BY name",
                                      columns: { _ in }, row: { listening.append($0[0].description) })
        #expect(listening == ["off", "127.0.0.1"])
        catalog.close()

        server.stop()  // what the test process's end (or death) does: the kernel closes the pipe
        #expect(!FileManager.default.fileExists(atPath: server.folder))
        let gone = #expect(throws: StoreError.self) { _ = try PostgresCatalog(url) }
        #expect(gone?.errorCode == .unavailable)
    }
}
