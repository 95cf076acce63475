import Foundation
import LoomIngest
import LoomStore
import LoomTestSupport
import Testing

/// Every `IngestError` says which common code it is, so the service and the CLI decide by code:
/// what is missing is `not-found`, what is malformed or contradictory is `invalid-input`.
@Suite("ingest error codes")
struct IngestErrorCodeTests {
    static func planError(_ root: String, _ options: Ingestor.Options) throws -> IngestError {
        try #require(throws: IngestError.self) { try Ingestor.plan(root: root, options: options) }
    }

    @Test("a missing dataset folder is not-found; a file given as the folder is invalid-input")
    func roots() throws {
        let temp = try TemporaryDirectory(prefix: "loom-codes-")
        let missing = try Self.planError(temp.appending("nope"), .init(dataset: "d"))
        #expect(missing.errorCode == .notFound && missing.path == temp.appending("nope"), "\(missing)")
        let file = try temp.write("x", to: "file.txt")
        let notFolder = try Self.planError(file, .init(dataset: "d"))
        #expect(notFolder.errorCode == .invalidInput && notFolder.message.contains("not a directory"), "\(notFolder)")
    }

    @Test("named side files: missing is not-found; a folder, bad text or a contradiction is invalid-input")
    func sideFiles() throws {
        let temp = try TemporaryDirectory(prefix: "loom-codes-")
        let root = temp.appending("data")
        try temp.write(FixtureImages.jpeg(width: 40, height: 30, seed: 1), to: "data/cat/a.jpg")
        let folder = try temp.makeDirectory("folder")
        let malformed = try temp.write("just-one-field\n", to: "names.txt")
        let otherClass = try temp.write("dog\n", to: "classes.txt")
        let cases: [(String, Ingestor.Options, LoomErrorCode)] = [
            ("missing classes file", .init(dataset: "d", classesPath: temp.appending("none.txt")), .notFound),
            ("classes file is a folder", .init(dataset: "d", classesPath: folder), .invalidInput),
            ("missing class names file", .init(dataset: "d", classNamesPath: temp.appending("none.txt")), .notFound),
            ("malformed class names", .init(dataset: "d", classNamesPath: malformed), .invalidInput),
            ("missing labels CSV", .init(dataset: "d", labelsCSVPath: temp.appending("none.csv"), labelColumn: "label"), .notFound),
            ("labels CSV without a column", .init(dataset: "d", labelsCSVPath: malformed), .invalidInput),
            ("missing val labels", .init(dataset: "d", valLabelsPath: temp.appending("none.csv")), .notFound),
            ("a class the dataset lacks", .init(dataset: "d", classesPath: otherClass), .notFound),
            ("no dataset name", .init(dataset: ""), .invalidInput),
        ]
        for (name, options, code) in cases {
            let error = try Self.planError(root, options)
            #expect(error.errorCode == code, "\(name): \(error)")
            #expect((error as any CodedError).errorCode == code)
        }
    }
}
