@testable import LoomServer
import Testing

/// The token check is middleware on the write routes' group: a route outside the group runs
/// without it, so every route that is not a read must be in it.
@Suite("Write route group")
struct WriteRouteGroupTests {
    @Test("every route that is not a GET is registered behind the write authorisation middleware, and no GET is")
    func nonReadsAreWrites() {
        let nonReads = Set(LoomServer.routeTable.filter { !$0.hasPrefix("GET ") }.map { String($0.split(separator: " ")[1]) })
        let writes = Set(LoomServer.routes.filter(\.writes).map(\.path))
        #expect(nonReads == writes && writes == ["/v1/ingest", "/v1/captions"], "\(nonReads.sorted()) vs \(writes.sorted())")
    }
}
