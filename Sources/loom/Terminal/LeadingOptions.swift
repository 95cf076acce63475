/// Store options written before the subcommand, git-style: `loom --store DIR ingest ROOT`.
///
/// ArgumentParser gives options before a subcommand to the root command, which has none, so
/// they were refused. The options every store command shares (`--store`, `--json`) are moved
/// from the front to the end of the arguments (before a `--` terminator, if there is one), where
/// the subcommand's own `CommonOptions` parse them. Anything else at the front (`--help`) stays.
enum LeadingOptions {
    static func hoisted(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--json" || argument.hasPrefix("--store=") {
                leading.append(argument)
                index += 1
            } else if argument == "--store", index + 1 < arguments.count {
                leading += [argument, arguments[index + 1]]
                index += 2
            } else {
                break
            }
        }
        guard !leading.isEmpty, index < arguments.count else { return arguments }
        var rest = Array(arguments[index...])
        // A --store written after the subcommand is the more specific one: it wins.
        if rest.contains(where: { $0 == "--store" || $0.hasPrefix("--store=") }) {
            leading = leadingWithoutStore(leading)
        }
        let end = rest.firstIndex(of: "--") ?? rest.endIndex
        rest.insert(contentsOf: leading, at: end)
        return rest
    }

    private static func leadingWithoutStore(_ leading: [String]) -> [String] {
        var kept: [String] = []
        var index = 0
        while index < leading.count {
            if leading[index] == "--store" { index += 2; continue }
            if !leading[index].hasPrefix("--store=") { kept.append(leading[index]) }
            index += 1
        }
        return kept
    }
}
