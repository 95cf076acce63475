import LoomLoader
@testable import LoomTrain
import Testing

/// End to end: resnet-small learns a small separable image task.
@Suite struct TrainingTests {
    @Test func resnetSmallLearnsSyntheticPatterns() throws {
        let (size, batch, steps) = (8, 16, 60)
        let net = try Network(ModelSpec(name: "resnet-small", classes: SyntheticImages.classes, inputSize: size), seed: 1)
        let sgd = SGD(parameters: net.parameters, momentum: 0.9, weightDecay: 5e-4)
        let schedule = LearningRateSchedule(baseRate: 0.1, warmupSteps: 10, totalSteps: steps)
        let train = SyntheticImages.make(count: batch * steps, size: size, seed: 100)
        let imageFloats = 3 * size * size
        var lastLosses: [Double] = []
        for step in 0..<steps {
            let labels = Array(train.labels[(step * batch)..<((step + 1) * batch)])
            let logits = train.pixels.withUnsafeBufferPointer {
                net.forward(UnsafeBufferPointer(rebasing: $0[(step * batch * imageFloats)...]), batch: batch, training: true)
            }
            let result = Loss.softmaxCrossEntropy(logits: logits, labels: labels, classes: SyntheticImages.classes)
            net.backward(result.grad)
            sgd.step(learningRate: schedule.rate(atStep: step))
            if step >= steps - 10 { lastLosses.append(result.loss) }
        }
        let heldOut = SyntheticImages.make(count: 200, size: size, seed: 999)
        let logits = heldOut.pixels.withUnsafeBufferPointer { net.forward($0, batch: 200, training: false) }
        let correct = Loss.topKCorrect(logits: logits, labels: heldOut.labels, classes: SyntheticImages.classes, k: 1)
        #expect(correct >= 180, "held-out accuracy \(correct)/200; final training losses \(lastLosses)")
    }
}
