// Stands in for Sources/LoomServer/API/APIError.swift (which maps store, loader and pipeline
// errors, so it imports all of them): the two initialisers the parsers throw with.
struct APIError: Error, CustomStringConvertible {
    enum Status { case badRequest }
    var status: Status
    var message: String

    init(_ status: Status, _ message: String) {
        self.status = status
        self.message = message
    }

    static func badParameter(_ name: String, _ problem: String) -> APIError {
        APIError(.badRequest, "parameter \(name): \(problem)")
    }

    var description: String { message }
}
