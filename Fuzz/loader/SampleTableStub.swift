// Stands in for Sources/LoomLoader/SampleTable.swift, which loads from the catalog (GRDB):
// `EpochPlan` reads only `count` and `components`.
public struct SampleTable: Sendable {
    public var count: Int
    public var components: [(range: Range<Int>, weight: Double)] = []

    init(count: Int) {
        self.count = count
        components = [(0..<count, 1)]
    }
}
