import LoomStore
import Testing

@Suite("PostgreSQL catalog URLs")
struct PostgresCatalogURLTests {
    @Test("user, password, host, port, database and sslmode are read as libpq reads them")
    func parses() throws {
        let url = try PostgresCatalogURL(parsing: "postgresql://loom:s%40cret@db.example:6543/catalog?sslmode=disable")
        #expect(url.user == "loom" && url.password == "s@cret" && url.host == "db.example" && url.port == 6543)
        #expect(url.database == "catalog" && url.sslMode == .disable && url.socketDirectory == nil)
        #expect(url.endpoint == "db.example:6543/catalog")
        #expect(url.description == "postgresql://loom@db.example:6543/catalog")

        let defaults = try PostgresCatalogURL(parsing: "postgres://alice@localhost")
        #expect(defaults.port == 5432 && defaults.database == "alice" && defaults.sslMode == .prefer && defaults.password == nil)
    }

    @Test("a unix socket directory comes from ?host= (or a host that is a path)")
    func socket() throws {
        let url = try PostgresCatalogURL(parsing: "postgresql://loom@/catalog?host=/run/postgresql&port=5433")
        #expect(url.socketDirectory == "/run/postgresql" && url.host == nil && url.port == 5433)
        #expect(url.endpoint == "/run/postgresql/.s.PGSQL.5433/catalog")
        let encoded = try PostgresCatalogURL(parsing: "postgresql://loom@%2Ftmp%2Fpg/catalog")
        #expect(encoded.socketDirectory == "/tmp/pg")
    }

    @Test("bad URLs are invalid input naming the URL without its password and the reason")
    func refuses() {
        let cases: [(String, String)] = [
            ("mysql://loom@host/db", "not a postgresql:// URL"),
            ("postgresql://host/db", "no user name"),
            ("postgresql://loom:hunter2@host/db?sslmode=maybe", "sslmode \"maybe\""),
            ("postgresql://loom@host/db?colour=blue", "unknown parameter \"colour\""),
            ("postgresql://loom@host/db?port=99999", "port \"99999\""),
        ]
        for (text, reason) in cases {
            let error = #expect(throws: StoreError.self) { try PostgresCatalogURL(parsing: text) }
            #expect(error?.errorCode == .invalidInput, "\(text)")
            #expect(error?.message.contains(reason) == true, "\(text): \(error?.message ?? "")")
            #expect(error?.message.contains("hunter2") == false, "\(text) leaks its password")
        }
        let error = #expect(throws: StoreError.self) { try PostgresCatalogURL(parsing: "postgresql://loom@h/db?password=hunter2&x=1") }
        #expect(error?.message.contains("password=***") == true && error?.message.contains("hunter2") == false)
    }
}
