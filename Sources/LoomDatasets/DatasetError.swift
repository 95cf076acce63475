/// Why a dataset could not be read or exported.
///
/// Every failure here concerns one file (a source archive that is missing, truncated or not what
/// its name says, or an output file that could not be written), so the error always names it:
/// the person reading "Error: ..." needs to know which of several files to look at.
public struct DatasetError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What is wrong, written for people ("wrong magic number 0x00000801, expected 0x00000803").
    public var message: String
    /// The file or directory the error concerns.
    public var path: String

    public init(_ message: String, path: String) {
        self.message = message
        self.path = path
    }

    public var description: String { "\(path): \(message)" }
}
