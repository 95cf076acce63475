/// Keeps prompts within the text encoder's limit: CLIP reads 77 tokens, start and end included.
///
/// Without a real tokenizer (backends that have one may re-count), Loom counts with a documented
/// word rule, `clip-words-v1`: every run of letters/digits is one token, every other visible
/// character one token, so "a photo of a tench, in a boat" is 9. CLIP's BPE splits rare words
/// further, so this rule undercounts slightly; the limit is therefore kept at 75 - 5 = 70.
public enum PromptLength {
    public static let rule = "clip-words-v1"
    public static let limit = 70

    /// Tokens of `text` under ``rule``.
    public static func count(_ text: String) -> Int { pieces(text).count }

    /// The text cut at a token boundary so it has at most `limit` tokens, and whether it was cut.
    public static func cut(_ text: String, limit: Int = limit) -> (text: String, tokens: Int, truncated: Bool) {
        let all = pieces(text)
        guard all.count > limit else { return (text, all.count, false) }
        let end = all[limit - 1].upperBound
        var kept = String(text[..<end])
        while kept.last?.isWhitespace == true || kept.last == "," { kept.removeLast() }
        return (kept, count(kept), true)
    }

    private static func pieces(_ text: String) -> [Range<String.Index>] {
        var result: [Range<String.Index>] = []
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            if character.isWhitespace {
                index = text.index(after: index)
            } else if character.isLetter || character.isNumber {
                var end = text.index(after: index)
                while end < text.endIndex, text[end].isLetter || text[end].isNumber { end = text.index(after: end) }
                result.append(index..<end)
                index = end
            } else {
                let end = text.index(after: index)
                result.append(index..<end)
                index = end
            }
        }
        return result
    }
}
