import Foundation
import GRDB

/// Captioner rows: a captioner is identified by its name plus the parameters that change its output.
enum Captioners {
    static func ensure(_ db: Database, name: String, params: [String: String] = [:], backend: String) throws -> Int64 {
        let json = try canonicalJSON(params)
        if let id = try Int64.fetchOne(db, sql: "SELECT id FROM captioners WHERE name = ? AND params = ?", arguments: [name, json]) {
            return id
        }
        try db.execute(sql: "INSERT INTO captioners (name, params, backend) VALUES (?, ?, ?)", arguments: [name, json, backend])
        return db.lastInsertedRowID
    }

    static func canonicalJSON(_ params: [String: String]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(params), as: UTF8.self)
    }
}
