import Foundation
import LoomLoader
@testable import LoomTrain
import Testing

@Suite struct NetworkTests {
    static let small = ModelSpec(name: "resnet-small", classes: 10, inputSize: 8)

    @Test func unknownModelListsTheKnownOnes() {
        do {
            _ = try Network(ModelSpec(name: "resnet7", classes: 2, inputSize: 32), seed: 0)
            Issue.record("built an unknown model")
        } catch {
            #expect("\(error)".contains("resnet7") && ModelSpec.names.allSatisfy { "\(error)".contains($0) }, "\(error)")
        }
    }

    @Test func sameSeedSameWeights() throws {
        let a = try Network(Self.small, seed: 42).stateTensors()
        let b = try Network(Self.small, seed: 42).stateTensors()
        let c = try Network(Self.small, seed: 43).stateTensors()
        #expect(a.keys.sorted() == b.keys.sorted())
        #expect(a.allSatisfy { b[$0.key]!.bitwiseEqual($0.value) })
        #expect(a["stage1.0.conv1.weight"] != c["stage1.0.conv1.weight"])
        #expect(a["fc.weight"] != c["fc.weight"])
        #expect(a["bn1.weight"] == c["bn1.weight"], "BatchNorm starts at 1 whatever the seed")
    }

    @Test func namesAndParameterCountsMatchTorch() throws {
        let net = try Network(Self.small, seed: 0)
        #expect(net.parameterCount == 78_042, "torch: sum(p.numel()) of tools/bench/torch_train.py's ResNetSmall(10)")
        let state = net.stateTensors()
        #expect(state.count == 56)
        #expect(state["stage2.0.downsample.0.weight"]?.shape == [32, 16, 1, 1])
        #expect(state["stage3.0.bn2.running_var"]?.shape == [64])
        #expect(state["bn1.num_batches_tracked"]?.shape == [])
        #expect(state["fc.weight"]?.shape == [10, 64])
        #expect(net.parameters.filter(\.decays).map(\.name).allSatisfy { $0.hasSuffix("weight") && !$0.contains("bn") && !$0.contains("downsample.1") })
        #expect(!net.parameters.first { $0.name == "fc.bias" }!.decays)
    }

    @Test func loadChecksNamesAndShapes() throws {
        let net = try Network(Self.small, seed: 1)
        var state = try Network(Self.small, seed: 2).stateTensors()
        try net.load(state)
        #expect(net.stateTensors() == state)

        var missing = state
        missing["stage2.0.bn1.bias"] = nil
        #expect(throws: TrainError("resnet-small state: missing tensor 'stage2.0.bn1.bias'")) { try net.load(missing) }
        var extra = state
        extra["stage4.0.conv1.weight"] = Tensor(shape: [1], data: [0])
        #expect(throws: TrainError("resnet-small state: unexpected tensor 'stage4.0.conv1.weight'")) { try net.load(extra) }
        state["fc.weight"] = Tensor(shape: [64, 10], data: state["fc.weight"]!.data)
        #expect(throws: TrainError("resnet-small state: tensor 'fc.weight' has shape [64, 10], expected [10, 64]")) { try net.load(state) }
    }

    @Test func loadedStateReproducesOutputs() throws {
        let a = try Network(Self.small, seed: 5)
        let input = Random.floats(3 * Self.small.inputElements, seed: 8)
        // Train a step so running statistics are not the initial ones.
        _ = input.withUnsafeBufferPointer { a.forward($0, batch: 3, training: true) }
        let b = try Network(Self.small, seed: 6)
        try b.load(a.stateTensors())
        let ya = input.withUnsafeBufferPointer { a.forward($0, batch: 3, training: false) }
        let yb = input.withUnsafeBufferPointer { b.forward($0, batch: 3, training: false) }
        #expect(ya == yb)
    }

    @Test func stepsAreDeterministic() throws {
        func step() throws -> ([Float], [[Float]]) {
            let net = try Network(ModelSpec(name: "resnet-small", classes: 4, inputSize: 12), seed: 9)
            let data = SyntheticImages.make(count: 16, size: 12, seed: 1)
            let logits = data.pixels.withUnsafeBufferPointer { net.forward($0, batch: 16, training: true) }
            net.backward(Loss.softmaxCrossEntropy(logits: logits, labels: data.labels, classes: 4).grad)
            return (logits, net.parameters.map(\.grad))
        }
        let (l1, g1) = try step()
        let (l2, g2) = try step()
        #expect(l1 == l2)
        #expect(g1 == g2)
    }

    /// The whole network's parameter gradients (through the NCHW/channel-major transposes, every
    /// block and the head) against finite differences of Σ r ⊙ logits.
    @Test func networkGradientMatchesFiniteDifferences() throws {
        // Few units keep ReLU kinks rare; with thousands of them some coordinate always sits
        // within eps of one, so a few disagreements are tolerated (a wiring error breaks nearly all).
        let net = try Network(ModelSpec(name: "resnet-small", classes: 3, inputSize: 6), seed: 3)
        let batch = 3
        let input = Random.floats(batch * 3 * 36, seed: 4)
        let r = Random.floats(batch * 3, seed: 5)
        func loss() -> Double {
            let y = input.withUnsafeBufferPointer { net.forward($0, batch: batch, training: true) }
            return zip(y, r).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }
        _ = loss()
        net.backward(r)
        var rng = SplitMix64(seed: 6)
        var checked = 0, kinks = 0, bad: [String] = []
        for name in ["conv1.weight", "bn1.bias", "stage1.0.conv2.weight", "stage2.0.downsample.0.weight", "stage3.0.bn2.weight", "fc.weight"] {
            let p = net.parameters.first { $0.name == name }!
            let analytic = p.grad
            for i in GradientCheck.coordinates(p.count, samples: 10, rng: &rng) {
                func difference(_ eps: Float) -> Double {
                    p.value[i] += eps
                    let plus = loss()
                    p.value[i] -= 2 * eps
                    let minus = loss()
                    p.value[i] += eps
                    return (plus - minus) / Double(2 * eps)
                }
                let (n1, n2) = (difference(2e-3), difference(1e-3))
                if abs(n1 - n2) > 2e-3 + 1e-2 * abs(n1) { kinks += 1; continue }
                checked += 1
                if abs(n1 - Double(analytic[i])) > 3e-3 + 2e-2 * abs(n1) { bad.append("\(name)[\(i)]: \(analytic[i]) vs \(n1)") }
            }
        }
        #expect(checked >= 30, "\(checked) checked, \(kinks) at kinks")
        #expect(bad.count * 10 <= checked, "\(bad.count) of \(checked) off: \(bad)")
    }

    @Test(arguments: ["resnet18", "resnet50"])
    func imageNetModelsProduceLogits(name: String) throws {
        let net = try Network(ModelSpec(name: name, classes: 1000, inputSize: 64), seed: 0)
        #expect(net.parameterCount == (name == "resnet18" ? 11_689_512 : 25_557_032), "torchvision's counts")
        let input = Random.floats(Self.small.channels * 64 * 64, seed: 1)
        let logits = input.withUnsafeBufferPointer { net.forward($0, batch: 1, training: false) }
        #expect(logits.count == 1000)
        #expect(logits.allSatisfy { $0.isFinite })
    }
}
