@testable import LoomTrain
import Testing

@Suite struct OptimizerTests {
    /// Two steps on a decayed and an undecayed parameter, lr 0.1, momentum 0.9, weight decay 0.01.
    /// By hand (plain momentum), for p = [1, -2], grads [0.5, 0.25] then [-1, 2]:
    ///   d1 = g1 + 0.01 p0 = [0.51, 0.23];  buf1 = d1;  p1 = p0 - 0.1 buf1 = [0.949, -2.023]
    ///   d2 = g2 + 0.01 p1 = [-0.99051, 1.97977];  buf2 = 0.9 buf1 + d2 = [-0.53151, 2.18677]
    ///   p2 = p1 - 0.1 buf2 = [1.002151, -2.241677]
    /// torch.optim.SGD gives the same (torch 2.13): [1.0021510124, -2.2416770458], buffer [-0.531509995, 2.186769962];
    /// Nesterov: [1.0500741005, -2.4384469986], buffer [-0.531969011, 2.186563015]; q without decay: 0.26 / 0.134.
    @Test(arguments: [false, true])
    func matchesTorch(nesterov: Bool) throws {
        let p = Parameter(name: "w", shape: [2], value: [1, -2], decays: true)
        let q = Parameter(name: "bn.bias", shape: [1], value: [0.5], decays: false)
        let sgd = SGD(parameters: [p, q], momentum: 0.9, weightDecay: 0.01, nesterov: nesterov)
        #expect(sgd.stateTensors().isEmpty, "no momentum buffers before the first step")
        for (g1, g2) in [([Float(0.5), 0.25], [Float(1)]), ([-1, 2], [0.5])] {
            p.grad = g1
            q.grad = g2
            sgd.step(learningRate: 0.1)
        }
        let expectedP: [Float] = nesterov ? [1.0500741005, -2.4384469986] : [1.0021510124, -2.2416770458]
        let expectedBuffer: [Float] = nesterov ? [-0.531969011, 2.186563015] : [-0.531509995, 2.186769962]
        for (a, b) in zip(p.value, expectedP) { #expect(abs(a - b) < 1e-6) }
        #expect(abs(q.value[0] - (nesterov ? 0.134 : 0.26)) < 1e-6)
        let state = sgd.stateTensors()
        #expect(Set(state.keys) == ["w.momentum_buffer", "bn.bias.momentum_buffer"])
        for (a, b) in zip(state["w.momentum_buffer"]!.data, expectedBuffer) { #expect(abs(a - b) < 1e-6) }

        // A restored optimiser continues identically.
        let p2 = Parameter(name: "w", shape: [2], value: p.value, decays: true)
        let q2 = Parameter(name: "bn.bias", shape: [1], value: q.value, decays: false)
        let restored = SGD(parameters: [p2, q2], momentum: 0.9, weightDecay: 0.01, nesterov: nesterov)
        try restored.load(state)
        for (x, y) in [(p, p2), (q, q2)] { x.grad = x.value.map { $0 * 0.3 }; y.grad = x.grad }
        sgd.step(learningRate: 0.05)
        restored.step(learningRate: 0.05)
        #expect(p.value == p2.value && q.value == q2.value)
    }

    @Test func loadRejectsUnknownOrMisshapenBuffers() {
        let sgd = SGD(parameters: [Parameter(name: "w", shape: [2], value: [1, 2], decays: true)])
        #expect(throws: TrainError.self) { try sgd.load(["v.momentum_buffer": Tensor(shape: [2], data: [0, 0])]) }
        #expect(throws: TrainError.self) { try sgd.load(["w.momentum_buffer": Tensor(shape: [3], data: [0, 0, 0])]) }
        #expect(throws: Never.self) { try sgd.load([:]) }
    }

    @Test func scheduleWarmsUpThenFollowsCosine() {
        let s = LearningRateSchedule(baseRate: 0.4, warmupSteps: 10, totalSteps: 110, minRate: 0.004)
        #expect(abs(s.rate(atStep: 0) - 0.04) < 1e-7, "first warm-up step: base / warmup, not 0")
        #expect(s.rate(atStep: 9) == 0.4)
        #expect(s.rate(atStep: 10) == 0.4)
        #expect(abs(s.rate(atStep: 60) - (0.004 + 0.396 / 2)) < 1e-6, "half way: the mean of base and min")
        #expect(abs(s.rate(atStep: 110) - 0.004) < 1e-7)
        #expect(abs(s.rate(atStep: 500) - 0.004) < 1e-7, "stays at min after the end")
        for step in 0..<9 { #expect(s.rate(atStep: step) < s.rate(atStep: step + 1)) }
        for step in 10..<110 { #expect(s.rate(atStep: step) > s.rate(atStep: step + 1)) }
        let flat = LearningRateSchedule(baseRate: 0.1, warmupSteps: 0, totalSteps: 100)
        #expect(flat.rate(atStep: 0) == 0.1 && flat.rate(atStep: 100) == 0)
    }
}
