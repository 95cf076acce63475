/// The lines of a text file, with "\n" or "\r\n" endings. Swift's `Character` holds "\r\n" as
/// one grapheme, so splitting on "\n" alone would read a CRLF file (common for files made on
/// Windows, such as Kaggle's CSVs) as a single line.
enum TextLines {
    static func split(_ text: String) -> [Substring] {
        text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }
    }
}
