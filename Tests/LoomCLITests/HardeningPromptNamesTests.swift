import Foundation
import LoomTestSupport
import Testing

/// One `loom sql --json` row.
private struct PromptRow: Decodable {
    var wnid: String
    var text: String
}

extension CLITests {
    @Test("prompts --class-names keeps wnids that differ only in Unicode normalization apart", .tags(.hardening))
    func classNamesMapIsByteExact() throws {
        let temp = try ScratchDirectory()
        let nfc = "caf\u{E9}", nfd = "cafe\u{301}"
        try temp.write(FixtureImages.jpeg(width: 32, height: 24, seed: 901), to: "data/\(nfc)/a.jpg")
        try temp.write(FixtureImages.jpeg(width: 32, height: 24, seed: 902), to: "data/\(nfd)/b.jpg")
        try temp.write(Array("\(nfc) espresso bar\n\(nfd) pastry shop\n".utf8), to: "names.txt")
        let store = CLIStore(temp.appending("store"))
        try store.ingest(temp.appending("data"), dataset: "cafe", ["--split", "train"])
        try store.ok(["prompts", "--dataset", "cafe", "--strategy", "class-name", "--class-names", temp.appending("names.txt")])
        let rows = try store.ok(["sql", "--json", "SELECT c.wnid AS wnid, p.text AS text FROM prompts p JOIN classes c ON c.id = p.class_id"])
            .stdoutText.split(separator: "\n").map { try JSONDecoder().decode(PromptRow.self, from: Data($0.utf8)) }
        let byBytes = Dictionary(uniqueKeysWithValues: rows.map { (Array($0.wnid.utf8), $0.text) })
        #expect(byBytes[Array(nfc.utf8)] == "espresso bar", "\(rows)")
        #expect(byBytes[Array(nfd.utf8)] == "pastry shop", "\(rows)")
    }
}
