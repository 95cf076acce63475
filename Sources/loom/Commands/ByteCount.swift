import ArgumentParser
import Foundation
import LoomLoader

/// A byte count on the command line: `1073741824`, `512MiB`, `2GiB`, `1.5G`, `800MB`.
struct ByteCount: ExpressibleByArgument, CustomStringConvertible {
    var bytes: Int

    init(_ bytes: Int) {
        self.bytes = bytes
    }

    init?(argument: String) {
        guard let bytes = StreamBudget.parseBytes(argument) else { return nil }
        self.bytes = bytes
    }

    var description: String { StreamBudget.format(bytes).replacingOccurrences(of: " ", with: "") }
    var defaultValueDescription: String { description }
}
