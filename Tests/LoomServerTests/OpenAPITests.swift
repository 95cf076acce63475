import Foundation
import LoomServer
import Testing

/// docs/openapi.yaml, read from the source tree.
func openAPIFile(filePath: String = #filePath) throws -> String {
    let root = URL(fileURLWithPath: filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return try String(contentsOf: root.appendingPathComponent("docs/openapi.yaml"), encoding: .utf8)
}

/// `METHOD /path` for every operation under `paths:` (two-space path keys, four-space methods).
func documentedOperations(_ yaml: String) -> Set<String> {
    var operations: Set<String> = []
    var inPaths = false, path: String? = nil
    for line in yaml.split(separator: "\n", omittingEmptySubsequences: false) {
        if !line.hasPrefix(" ") && !line.isEmpty { inPaths = line == "paths:"; path = nil; continue }
        guard inPaths else { continue }
        if line.hasPrefix("  /"), line.hasSuffix(":"), !line.hasPrefix("   ") {
            path = String(line.dropFirst(2).dropLast())
        } else if let path, line.hasPrefix("    "), !line.hasPrefix("     "), line.hasSuffix(":") {
            let method = line.trimmingCharacters(in: .whitespaces).dropLast()
            if ["get", "post", "put", "delete", "patch"].contains(method) { operations.insert("\(method.uppercased()) \(path)") }
        }
    }
    return operations
}

extension ServerTests {
    @Test("docs/openapi.yaml describes exactly the API routes the server registers (all but the gallery pages), and the binary embeds it as it is")
    func openAPIDocument() throws {
        let yaml = try openAPIFile()
        #expect(OpenAPIDocument.yaml == yaml.trimmingCharacters(in: .newlines),
                "Sources/LoomServer/OpenAPI/OpenAPIDocument.swift is out of date: run tools/gen-openapi")
        let documented = documentedOperations(yaml)
        // The gallery's HTML pages are for people and change with their templates: they are not
        // part of the versioned API, so the document leaves them out on purpose.
        let gallery = Set(LoomServer.galleryRouteTable)
        #expect(gallery.allSatisfy { $0.hasPrefix("GET /") && !$0.hasPrefix("GET /v1/") }, "gallery pages stay outside /v1: \(gallery.sorted())")
        #expect(gallery.isSubset(of: Set(LoomServer.routeTable)))
        let registered = Set(LoomServer.routeTable).subtracting(gallery)
        #expect(registered.subtracting(documented).isEmpty, "registered but not documented: \(registered.subtracting(documented).sorted())")
        #expect(documented.subtracting(registered).isEmpty, "documented but not registered: \(documented.subtracting(registered).sorted())")
        #expect(registered.count >= 17)

        let fixture = try ServerFixture(classes: ["cat"], trainPerClass: 1, valPerClass: 0)
        try fixture.start(token: false)
        defer { _ = try? fixture.stop() }
        let served = try fixture.get("/v1/openapi.yaml")
        #expect(served.status == 200 && served.header("content-type")?.hasPrefix("application/yaml") == true)
        #expect(served.text == OpenAPIDocument.yaml)
    }
}
