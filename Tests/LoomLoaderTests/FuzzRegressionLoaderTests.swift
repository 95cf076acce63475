@testable import LoomLoader
import LoomTestSupport
import Testing

/// Inputs the `loader` fuzz target (Fuzz/loader, `tools/fuzz loader`) broke the resume-token
/// and selection parsers, or the epoch plan, with. Raw crash files: Fuzz/crashes/loader/.
@Suite("Fuzz regressions: resume tokens and selections", .tags(.hardening))
struct FuzzRegressionLoaderTests {
    // Fuzz/crashes/loader/selection-weight-exponent-plus: a weight of 9.2e49 printed as
    // "9.223372036854776e+49", and the "+" of the exponent split the printed selection in two.
    @Test("a selection prints as text that parses back to it, whatever its weights",
          arguments: ["lt:tran*92233720368547758082337203685477580868547758083", "a:train*1e16+b:val*3", "a:train*1e300",
                      "a:train*0.00001+b:synthetic:s*2.5e-300", "a:train*1"])
    func selectionRoundTrip(text: String) throws {
        let selection = try Selection(parsing: text)
        let printed = selection.description
        #expect(try Selection(parsing: printed) == selection, "\(text) printed as \(printed)")
    }

    // A cursor is not bounded like the `world` parameter (1...65536): "loom1.0.0.0.0.<Int.max>"
    // parsed, and the epoch plan's ceil(n / world) overflowed computing n + world - 1, trapping
    // `loom stream --resume` and, through GET /v1/batches?cursor=..., the whole `loom serve`.
    @Test("a resume token with a huge world plans its rank's share instead of trapping",
          arguments: ["loom1.0.0.0.0.9223372036854775807", "loom1.0.0.0.9223372036854775806.9223372036854775807"])
    func hugeWorld(text: String) throws {
        let token = try ResumeToken(parsing: text)
        let table = syntheticTable(components: [10])
        let all = EpochPlan(table: table, config: SamplerConfig(seed: token.seed), epoch: token.epoch).order
        for remainder in RankRemainder.allCases {
            let config = SamplerConfig(seed: token.seed, rank: token.rank, world: token.world, remainder: remainder)
            try config.validate()
            let plan = EpochPlan(table: table, config: config, epoch: token.epoch)
            // One sample per rank when padding (ceil(10 / world) = 1, wrapping around), none when dropping.
            #expect(plan.order == (remainder == .pad ? [all[token.rank % all.count]] : []))
        }
    }
}
