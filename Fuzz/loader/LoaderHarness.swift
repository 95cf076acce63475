// libFuzzer target `loader`: the resume-token and selection parsers (`loom stream --resume`,
// `--selection`, and the `cursor` and `selection` parameters of GET /v1/batches), then the
// epoch plan a parsed token leads to, as the loader builds it.
//
// Input: text; the first line is parsed as a token and a selection, so is every later line.

@_cdecl("LLVMFuzzerTestOneInput")
public func loaderFuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    for line in text.split(separator: "\n", omittingEmptySubsequences: false).prefix(4) {
        checkToken(String(line))
        checkSelection(String(line))
    }
    return 0
}

private func checkToken(_ text: String) {
    guard let token = try? ResumeToken(parsing: text) else { return }
    // What the token prints is what the next `--resume` gets back.
    let again = try? ResumeToken(parsing: token.description)
    precondition(again == token, "token \(text) prints as \(token.description), which reads back as \(String(describing: again))")
    // The plan the loader builds from it (`LoaderPipeline.init` validates, then plans), over a
    // small table: the token's fields must not be able to trap the arithmetic.
    let config = SamplerConfig(seed: token.seed, rank: token.rank, world: token.world)
    guard (try? config.validate()) != nil else { return }
    for count in [0, 1, 7] {
        let plan = EpochPlan(table: SampleTable(count: count), config: config, epoch: token.epoch)
        precondition(plan.order.allSatisfy { Int($0) < count }, "plan indexes outside the table")
    }
}

private func checkSelection(_ text: String) {
    guard let selection = try? Selection(parsing: text) else { return }
    precondition(!selection.components.isEmpty)
    for component in selection.components {
        precondition(component.weight > 0 && component.weight.isFinite, "weight \(component.weight) accepted")
    }
    // Printed selections (run configs, reports) must parse back to the same selection.
    let again = try? Selection(parsing: selection.description)
    precondition(again == selection, "selection \(text) prints as \(selection.description), which reads back differently")
}
