import Foundation
import LoomStore

/// How a prompt is made from a class name and, for caption strategies, a caption.
///
/// The seed paper's comparison: `class-caption` ("tench, a man holding a large fish") against
/// `class-name` ("tench"). Its released code wrote "a photo of {class}, {caption}" against
/// "a photo of {class}": those are `paper-caption` and `paper-class`.
public struct PromptStrategy: Sendable, Hashable {
    public let name: String
    /// With `{class}` and optionally `{caption}` placeholders.
    public let template: String

    public var usesCaption: Bool { template.contains("{caption}") }

    public static let builtin: [PromptStrategy] = [
        PromptStrategy(name: "class-name", template: "{class}"),
        PromptStrategy(name: "template", template: "a photo of a {class}"),
        PromptStrategy(name: "caption", template: "{caption}"),
        PromptStrategy(name: "class-caption", template: "{class}, {caption}"),
        PromptStrategy(name: "paper-class", template: "a photo of {class}"),
        PromptStrategy(name: "paper-caption", template: "a photo of {class}, {caption}"),
    ]

    /// A built-in strategy, optionally with its template replaced (`template --template T`), or a
    /// user strategy: any other name with a `--template` that uses `{class}` and/or `{caption}`.
    public init(name: String, template: String? = nil) throws {
        if let known = Self.builtin.first(where: { $0.name == name }) {
            self.init(name: name, template: template ?? known.template)
        } else {
            guard let template else {
                let names = Self.builtin.map(\.name).joined(separator: ", ")
                throw PipelineError(.invalidInput, "unknown prompt strategy \"\(name)\" (built in: \(names)); a new strategy needs --template")
            }
            self.init(name: name, template: template)
        }
        guard self.template.contains("{class}") || self.template.contains("{caption}") else {
            throw PipelineError(.invalidInput, "template \"\(self.template)\" has neither {class} nor {caption}")
        }
    }

    private init(name: String, template: String) {
        self.name = name
        self.template = template
    }

    /// The prompt text for a class (its prompt name) and caption.
    public func render(className: String, caption: String?) -> String {
        var text = template.replacingOccurrences(of: "{class}", with: className)
        if let caption { text = text.replacingOccurrences(of: "{caption}", with: Self.tidy(caption)) }
        return text
    }

    /// Captions from models often end with a full stop or carry stray whitespace; a prompt
    /// made of "class, caption" reads better without them.
    static func tidy(_ caption: String) -> String {
        var text = caption.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        while text.last == "." { text.removeLast() }
        return text
    }
}
