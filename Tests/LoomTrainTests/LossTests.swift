@testable import LoomTrain
import Testing

@Suite struct LossTests {
    static let logits: [Float] = [1, 2, 3, -1, 1, 0, 0.5, 2, 0, 0, 0, 0]
    static let labels: [Int32] = [2, 0, 3]

    /// Values from torch 2.13: `F.cross_entropy(x, y, label_smoothing=s)` and its gradient.
    @Test func matchesTorch() {
        let plain = Loss.softmaxCrossEntropy(logits: Self.logits, labels: Self.labels, classes: 4)
        #expect(abs(plain.loss - 1.1173391342163086) < 1e-6)
        let torchGrad: [Float] = [0.02964894, 0.08059418, -0.11425567, 0.00401255, -0.2623009, 0.02613137, 0.04308335,
                                  0.1930862, 0.08333334, 0.08333334, 0.08333334, -0.25]
        for (a, b) in zip(plain.grad, torchGrad) { #expect(abs(a - b) < 1e-6) }
        #expect(plain.correct == 1, "row 0 predicts class 2 (right); row 1 predicts 3; row 2 ties at class 0")

        let smoothed = Loss.softmaxCrossEntropy(logits: Self.logits, labels: Self.labels, classes: 4, smoothing: 0.1)
        #expect(abs(smoothed.loss - 1.1798391342163086) < 1e-6)
        let torchSmoothedGrad: [Float] = [0.0213156, 0.07226084, -0.08925565, -0.00432079, -0.23730089, 0.01779803, 0.03475,
                                          0.18475282, 0.075, 0.075, 0.075, -0.225]
        for (a, b) in zip(smoothed.grad, torchSmoothedGrad) { #expect(abs(a - b) < 1e-6) }
    }

    @Test(arguments: [Float(0), 0.1, 0.3])
    func gradientIsDerivativeOfMeanLoss(smoothing: Float) {
        let base = Random.floats(5 * 6, seed: 4, scale: 2)
        let labels: [Int32] = [0, 5, 2, 2, 3]
        let analytic = Loss.softmaxCrossEntropy(logits: base, labels: labels, classes: 6, smoothing: smoothing).grad
        let eps: Float = 1e-3
        for i in 0..<base.count {
            var plus = base, minus = base
            plus[i] += eps
            minus[i] -= eps
            let numeric = (Loss.softmaxCrossEntropy(logits: plus, labels: labels, classes: 6, smoothing: smoothing).loss
                - Loss.softmaxCrossEntropy(logits: minus, labels: labels, classes: 6, smoothing: smoothing).loss) / Double(2 * eps)
            #expect(abs(numeric - Double(analytic[i])) < 1e-4, "logit \(i): numeric \(numeric), analytic \(analytic[i])")
        }
    }

    @Test func topK() {
        // Ranks of the labels: row 0 first; row 1's 1 is below the 2 (second); row 2 ties at 0 and
        // ties go to the lower class, so class 3 is fourth.
        #expect(Loss.topKCorrect(logits: Self.logits, labels: Self.labels, classes: 4, k: 1) == 1)
        #expect(Loss.topKCorrect(logits: Self.logits, labels: Self.labels, classes: 4, k: 2) == 2)
        #expect(Loss.topKCorrect(logits: Self.logits, labels: Self.labels, classes: 4, k: 4) == 3)
        // Labels 3, 1, 0: fourth, fourth (below 2, 1 and 0.5), first (ties, lowest index).
        #expect(Loss.topKCorrect(logits: Self.logits, labels: [3, 1, 0], classes: 4, k: 1) == 1)
        #expect(Loss.topKCorrect(logits: Self.logits, labels: [3, 1, 0], classes: 4, k: 3) == 1)
        #expect(Loss.topKCorrect(logits: Self.logits, labels: [3, 1, 0], classes: 4, k: 4) == 3)
    }
}
