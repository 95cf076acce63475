import Foundation
@testable import LoomIngest
import LoomStore
import LoomTestSupport
import Testing

@Suite struct ShardPatternsTests {
    @Test("brace ranges keep their zero padding, lists expand, groups nest left to right")
    func braces() {
        #expect(ShardPatterns.braces("s-{000008..000011}.tar") == ["s-000008.tar", "s-000009.tar", "s-000010.tar", "s-000011.tar"])
        #expect(ShardPatterns.braces("{train,val}-{1..2}.tar") == ["train-1.tar", "train-2.tar", "val-1.tar", "val-2.tar"])
        #expect(ShardPatterns.braces("plain.tar") == ["plain.tar"])
        #expect(ShardPatterns.braces("odd-{3..1}.tar") == ["odd-3..1.tar"], "a backwards range is not a range")
    }

    @Test("globs and ranges name existing files once each, in order; a pattern that matches nothing is not-found, naming it")
    func expansion() throws {
        let directory = try TemporaryDirectory(prefix: "loom-shards-")
        for name in ["a-000000.tar", "a-000001.tar", "b.tar"] {
            FileManager.default.createFile(atPath: directory.path + "/" + name, contents: Data())
        }
        let files = try ShardPatterns.expand([directory.path + "/a-{000000..000001}.tar", directory.path + "/*.tar"])
        #expect(files.map { ($0 as NSString).lastPathComponent } == ["a-000000.tar", "a-000001.tar", "b.tar"])
        do {
            _ = try ShardPatterns.expand([directory.path + "/c-{0..3}.tar"])
            Issue.record("a pattern with no match was accepted")
        } catch let error as IngestError {
            #expect(error.errorCode == .notFound && error.path == directory.path + "/c-{0..3}.tar", "\(error)")
        }
    }

    @Test("a member's key is its name up to the first dot of its last component; the suffix is the rest, lower-cased")
    func keys() {
        #expect(WebDatasetSource.split("dir.v1/000123.seg.PNG") == ("dir.v1/000123", "seg.png"))
        #expect(WebDatasetSource.split("000001.jpg") == ("000001", "jpg"))
        #expect(WebDatasetSource.split("README") == ("README", ""))
    }
}
