/// A growable, reused float array for activations, gradients and scratch space.
///
/// Training steps have the same shapes every time, so each buffer is allocated once at the first
/// step and then reused: no allocation churn on the hot path. `reserve` only reallocates when a
/// larger batch arrives, and the contents are then undefined (every user overwrites them).
final class FloatBuffer {
    private(set) var pointer: UnsafeMutablePointer<Float>
    private(set) var capacity: Int

    init(capacity: Int = 0) {
        self.capacity = capacity
        pointer = .allocate(capacity: max(capacity, 1))
    }

    deinit { pointer.deallocate() }

    /// Room for at least `count` floats; returns the (possibly new) storage.
    @discardableResult
    func reserve(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > capacity {
            pointer.deallocate()
            pointer = .allocate(capacity: count)
            capacity = count
        }
        return pointer
    }
}
