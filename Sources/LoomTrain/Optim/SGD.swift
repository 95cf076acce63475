/// Stochastic gradient descent with momentum, torch.optim.SGD's update (dampening 0):
///
///     d = grad + weightDecay * value        (only where Parameter.decays)
///     buf = d on the first step, else momentum * buf + d
///     d = nesterov ? d + momentum * buf : buf
///     value -= learningRate * d
public final class SGD {
    public let parameters: [Parameter]
    public let momentum: Float
    public let weightDecay: Float
    public let nesterov: Bool
    /// Momentum buffers, created at a parameter's first step (torch's lazily created state).
    private var buffers: [[Float]?]

    public init(parameters: [Parameter], momentum: Float = 0.9, weightDecay: Float = 5e-4, nesterov: Bool = false) {
        precondition(!nesterov || momentum > 0, "Nesterov momentum requires a momentum")
        self.parameters = parameters
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.nesterov = nesterov
        buffers = Array(repeating: nil, count: parameters.count)
    }

    /// Applies one update from the parameters' current gradients.
    public func step(learningRate: Float) {
        for (index, p) in parameters.enumerated() {
            let decay = p.decays ? weightDecay : 0
            let first = buffers[index] == nil
            if momentum != 0 && first { buffers[index] = [Float](repeating: 0, count: p.count) }
            let (momentum, nesterov) = (self.momentum, self.nesterov)
            p.grad.withUnsafeBufferPointer { grad in
                p.value.withUnsafeMutableBufferPointer { value in
                    guard momentum != 0 else {
                        for i in 0..<value.count { value[i] -= learningRate * (grad[i] + decay * value[i]) }
                        return
                    }
                    buffers[index]!.withUnsafeMutableBufferPointer { buf in
                        for i in 0..<value.count {
                            let d = grad[i] + decay * value[i]
                            buf[i] = first ? d : momentum * buf[i] + d
                            value[i] -= learningRate * (nesterov ? d + momentum * buf[i] : buf[i])
                        }
                    }
                }
            }
        }
    }

    /// The momentum buffers that exist, named `<parameter>.momentum_buffer`.
    public func stateTensors() -> [String: Tensor] {
        var state: [String: Tensor] = [:]
        for (p, buffer) in zip(parameters, buffers) {
            if let buffer { state[p.name + Self.suffix] = Tensor(shape: p.shape, data: buffer) }
        }
        return state
    }

    /// Restores momentum buffers; a parameter without one in `state` starts fresh (as after torch's
    /// first step).
    /// - Throws: ``TrainError`` naming the first tensor that matches no parameter or has the wrong shape.
    public func load(_ state: [String: Tensor]) throws {
        var expected: [String: [Int]] = [:]
        for p in parameters { expected[p.name + Self.suffix] = p.shape }
        let present = expected.filter { state[$0.key] != nil }
        try StateCheck.verify(state, expected: present, what: "SGD state")
        buffers = parameters.map { state[$0.name + Self.suffix]?.data }
    }

    private static let suffix = ".momentum_buffer"
}
