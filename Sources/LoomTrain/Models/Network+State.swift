import LoomStore

extension Network {
    /// Every parameter and buffer (BatchNorm running mean and variance, batches seen) by its stable
    /// dotted name, e.g. `stage1.0.conv1.weight`, `bn1.running_var`, `fc.bias`.
    public func stateTensors() -> [String: Tensor] {
        var state: [String: Tensor] = [:]
        for p in parameters { state[p.name] = Tensor(shape: p.shape, data: p.value) }
        for b in buffers { state[b.name] = Tensor(shape: b.shape, data: b.value) }
        return state
    }

    /// Replaces every parameter and buffer with `state`'s.
    /// - Throws: ``TrainError`` naming the first (in name order) missing, unexpected or
    ///   wrongly shaped tensor; nothing is changed then.
    public func load(_ state: [String: Tensor]) throws {
        var expected: [String: [Int]] = [:]
        for p in parameters { expected[p.name] = p.shape }
        for b in buffers { expected[b.name] = b.shape }
        try StateCheck.verify(state, expected: expected, what: "\(spec.name) state")
        for p in parameters { p.value = state[p.name]!.data }
        for b in buffers { b.value = state[b.name]!.data }
    }
}

/// Compares a set of named tensors with the names and shapes a model or optimiser expects.
enum StateCheck {
    static func verify(_ state: [String: Tensor], expected: [String: [Int]], what: String) throws {
        for name in Set(expected.keys).union(state.keys).sorted() {
            switch (expected[name], state[name]) {
            case (nil, _?):
                throw TrainError(.invalidInput, "\(what): unexpected tensor '\(name)'")
            case (_?, nil):
                throw TrainError(.invalidInput, "\(what): missing tensor '\(name)'")
            case let (shape?, tensor?) where shape != tensor.shape || tensor.data.count != shape.reduce(1, *):
                throw TrainError(.invalidInput, "\(what): tensor '\(name)' has shape \(tensor.shape), expected \(shape)")
            default:
                continue
            }
        }
    }
}
