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
}
