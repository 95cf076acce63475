import LoomLoader
import LoomStore

/// Top-1/top-5 and per-class accuracy of a network on a selection, with the loader's evaluation
/// transform (resize, centre crop) and batch norm in inference mode.
public struct Evaluation: Sendable, Hashable {
    public var images: Int
    public var top1: Double
    public var top5: Double
    public var perClass: [ClassAccuracy]

    public static func run(_ network: Network, store: Store, table: SampleTable, size: Int, batch: Int,
                           workers: Int) throws -> Evaluation {
        let classes = network.spec.classes
        let loader = try Loader(store: store, table: table, spec: TransformSpec(size: size, augment: .eval),
                                config: SamplerConfig(seed: 0), epoch: 0,
                                options: .init(batchSize: batch, workers: workers))
        var input = [Float](repeating: 0, count: batch * 3 * size * size)
        var correct = [Int](repeating: 0, count: classes), total = [Int](repeating: 0, count: classes)
        var top1 = 0, top5 = 0, images = 0
        while let view = try loader.next() {
            input.withUnsafeMutableBufferPointer { view.normalizedCHW(size: size, into: $0) }
            let logits = input.withUnsafeBufferPointer { network.forward(UnsafeBufferPointer(rebasing: $0[..<(view.count * 3 * size * size)]), batch: view.count, training: false) }
            let labels = Array(view.labels)
            top1 += Loss.topKCorrect(logits: logits, labels: labels, classes: classes, k: 1)
            top5 += Loss.topKCorrect(logits: logits, labels: labels, classes: classes, k: min(5, classes))
            for (row, label) in labels.enumerated() {
                let scores = logits[(row * classes)..<((row + 1) * classes)]
                let predicted = scores.indices.max { scores[$0] < scores[$1] }! - row * classes
                total[Int(label)] += 1
                if predicted == Int(label) { correct[Int(label)] += 1 }
            }
            images += view.count
        }
        let perClass = (0..<classes).map { label in
            ClassAccuracy(label: label, name: label < table.classNames.count ? table.classNames[label] : "\(label)",
                          correct: correct[label], total: total[label])
        }
        let n = Double(max(images, 1))
        return Evaluation(images: images, top1: Double(top1) / n, top5: Double(top5) / n, perClass: perClass)
    }
}
