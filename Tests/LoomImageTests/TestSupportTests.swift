import Foundation
import LoomTestSupport
import Testing

@Suite("LoomTestSupport")
struct TestSupportTests {
    @Test func seededGeneratorIsDeterministicSplitMix64() {
        var a = SeededGenerator(seed: 42), b = SeededGenerator(seed: 42), c = SeededGenerator(seed: 43)
        let first = (0..<4).map { _ in a.next() }
        #expect(first == (0..<4).map { _ in b.next() })
        #expect(first != (0..<4).map { _ in c.next() })
        // SplitMix64's published first output for seed 0.
        var zero = SeededGenerator(seed: 0)
        #expect(zero.next() == 0xE220_A839_7B1D_CDAF)
    }

    @Test func temporaryDirectoryWritesAndCleansUp() throws {
        var path = ""
        do {
            let directory = try TemporaryDirectory()
            path = directory.path
            #expect(URL(fileURLWithPath: path).lastPathComponent.hasPrefix("loom-test-"))
            let file = try directory.write([1, 2, 3], to: "a/b/c.bin")
            #expect(FileManager.default.contents(atPath: file) == Data([1, 2, 3]))
            let made = try directory.makeDirectory("x/y")
            var isDirectory: ObjCBool = false
            #expect(FileManager.default.fileExists(atPath: made, isDirectory: &isDirectory) && isDirectory.boolValue)
            #expect(directory.url.path == path)
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func twoTemporaryDirectoriesDiffer() throws {
        let a = try TemporaryDirectory(), b = try TemporaryDirectory()
        #expect(a.path != b.path)
    }
}
