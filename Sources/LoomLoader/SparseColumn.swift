/// A per-sample column whose entries are mostly absent (the pixel cache's, before `loom cache
/// build`): a 4-byte slot per sample pointing into the entries present. An array of optionals
/// would spend the whole entry's stride (96 bytes for a cached image's location) on every sample
/// without one: 96 MB more for a million uncached rows.
public struct SparseColumn<Element: Sendable>: RandomAccessCollection, Sendable {
    private var slots: [Int32] = []
    private var present: [Element] = []

    public init() {}

    public var startIndex: Int { 0 }
    public var endIndex: Int { slots.count }

    public subscript(position: Int) -> Element? {
        let slot = slots[position]
        return slot < 0 ? nil : present[Int(slot)]
    }

    /// How many samples have an entry.
    public var presentCount: Int { present.count }

    public mutating func append(_ element: Element?) {
        guard let element else { return slots.append(-1) }
        slots.append(Int32(present.count))
        present.append(element)
    }

    public mutating func reserveCapacity(_ count: Int) { slots.reserveCapacity(count) }
}
