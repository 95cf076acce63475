import Foundation

/// Classification losses and accuracy counts on row-major batch x classes logits.
public enum Loss {
    /// Mean softmax cross-entropy with optional label smoothing, torch's
    /// `cross_entropy(logits, labels, label_smoothing: smoothing)`: each row's target is
    /// `(1 - smoothing) * onehot + smoothing / classes`.
    /// - Returns: the mean loss (accumulated in Double), d(mean loss)/d(logits) (`(softmax - target) / batch`),
    ///   and how many rows have their label as the (first) largest logit.
    public static func softmaxCrossEntropy(logits: [Float], labels: [Int32], classes: Int,
                                           smoothing: Float = 0) -> (loss: Double, grad: [Float], correct: Int) {
        let batch = labels.count
        precondition(classes >= 1 && logits.count == batch * classes, "logits must be \(batch) x \(classes)")
        precondition(smoothing >= 0 && smoothing <= 1, "label smoothing must be in [0, 1]")
        var grad = [Float](repeating: 0, count: logits.count)
        var total = 0.0
        var correct = 0
        let offTarget = Double(smoothing) / Double(classes)
        let onTarget = 1 - Double(smoothing) + offTarget
        for n in 0..<batch {
            let label = Int(labels[n])
            precondition(label >= 0 && label < classes, "label \(label) outside 0..<\(classes)")
            let row = n * classes
            var best = 0
            var maximum = logits[row]
            for k in 1..<max(classes, 1) where logits[row + k] > maximum { maximum = logits[row + k]; best = k }
            if best == label { correct += 1 }
            var sumExp = 0.0
            for k in 0..<classes { sumExp += exp(Double(logits[row + k] - maximum)) }
            let logSumExp = log(sumExp)
            var rowLoss = 0.0
            for k in 0..<classes {
                let logProbability = Double(logits[row + k] - maximum) - logSumExp
                let target = k == label ? onTarget : offTarget
                rowLoss -= target * logProbability
                grad[row + k] = Float((exp(logProbability) - target) / Double(batch))
            }
            total += rowLoss
        }
        return (batch == 0 ? 0 : total / Double(batch), grad, correct)
    }

    /// How many rows have their label among the `k` largest logits (ties broken toward the lower
    /// class index, as `torch.topk` on CPU does in practice).
    public static func topKCorrect(logits: [Float], labels: [Int32], classes: Int, k: Int) -> Int {
        precondition(logits.count == labels.count * classes, "logits must be \(labels.count) x \(classes)")
        var correct = 0
        for n in 0..<labels.count {
            let row = n * classes
            let label = Int(labels[n])
            let value = logits[row + label]
            // Rank of the label: classes strictly above it, plus equal ones with a lower index.
            var above = 0
            for c in 0..<classes where logits[row + c] > value || (logits[row + c] == value && c < label) { above += 1 }
            if above < k { correct += 1 }
        }
        return correct
    }
}
