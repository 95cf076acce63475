import LoomLoader
import LoomStore

/// The layer stacks of the architectures in ``ModelSpec/names``, named as torchvision names them
/// (`conv1`, `bn1`, `layerN.i...` spelt `stageN.i...`, `fc`) so checkpoints read like theirs.
enum ResNet {
    static func makeLayers(_ spec: ModelSpec, workspace: Workspace, rng: inout SplitMix64) throws -> [any Layer] {
        guard spec.classes >= 1 else { throw TrainError(.invalidInput, "a model needs at least one class, got \(spec.classes)") }
        guard spec.channels >= 1 else { throw TrainError(.invalidInput, "a model needs at least one input channel, got \(spec.channels)") }
        guard spec.inputSize >= 1 else { throw TrainError(.invalidInput, "input size must be positive, got \(spec.inputSize)") }
        switch spec.name {
        case "resnet-small": return small(spec, workspace: workspace, rng: &rng)
        case "resnet18": return imageNet(spec, blocks: [2, 2, 2, 2], bottleneck: false, workspace: workspace, rng: &rng)
        case "resnet50": return imageNet(spec, blocks: [3, 4, 6, 3], bottleneck: true, workspace: workspace, rng: &rng)
        default:
            throw TrainError(.invalidInput, "unknown model '\(spec.name)'; known models: \(ModelSpec.names.joined(separator: ", "))")
        }
    }

    /// CIFAR ResNet-8: conv3x3(C->16) + BN + ReLU, one BasicBlock per stage at widths 16, 32, 64
    /// and strides 1, 2, 2, global average pool, linear.
    private static func small(_ spec: ModelSpec, workspace: Workspace, rng: inout SplitMix64) -> [any Layer] {
        var layers: [any Layer] = [
            Conv2d(name: "conv1", inChannels: spec.channels, outChannels: 16, kernel: 3, padding: 1, workspace: workspace,
                   needsInputGradient: false, rng: &rng),
            BatchNorm2d(name: "bn1", channels: 16, fusedReLU: true),
        ]
        var inChannels = 16
        for (stage, (width, stride)) in zip([16, 32, 64], [1, 2, 2]).enumerated() {
            layers.append(BasicBlock(name: "stage\(stage + 1).0", inChannels: inChannels, channels: width, stride: stride,
                                     workspace: workspace, rng: &rng))
            inChannels = width
        }
        layers.append(GlobalAveragePool())
        layers.append(Linear(name: "fc", inFeatures: inChannels, outFeatures: spec.classes, rng: &rng))
        return layers
    }

    /// torchvision's resnet18 / resnet50: 7x7/2 conv + BN + ReLU, 3x3/2 max pool, four stages of
    /// BasicBlocks or Bottlenecks at widths 64..512 (the first block of stages 2-4 has stride 2),
    /// global average pool, linear.
    private static func imageNet(_ spec: ModelSpec, blocks: [Int], bottleneck: Bool, workspace: Workspace,
                                 rng: inout SplitMix64) -> [any Layer] {
        var layers: [any Layer] = [
            Conv2d(name: "conv1", inChannels: spec.channels, outChannels: 64, kernel: 7, stride: 2, padding: 3,
                   workspace: workspace, needsInputGradient: false, rng: &rng),
            BatchNorm2d(name: "bn1", channels: 64, fusedReLU: true),
            MaxPool2d(kernel: 3, stride: 2, padding: 1),
        ]
        var inChannels = 64
        for (stage, count) in blocks.enumerated() {
            let width = 64 << stage
            for index in 0..<count {
                let name = "stage\(stage + 1).\(index)"
                let stride = stage > 0 && index == 0 ? 2 : 1
                if bottleneck {
                    layers.append(Bottleneck(name: name, inChannels: inChannels, channels: width, stride: stride,
                                             workspace: workspace, rng: &rng))
                    inChannels = width * Bottleneck.expansion
                } else {
                    layers.append(BasicBlock(name: name, inChannels: inChannels, channels: width, stride: stride,
                                             workspace: workspace, rng: &rng))
                    inChannels = width
                }
            }
        }
        layers.append(GlobalAveragePool())
        layers.append(Linear(name: "fc", inFeatures: inChannels, outFeatures: spec.classes, rng: &rng))
        return layers
    }
}
