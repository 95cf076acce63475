/// Which network to build: an architecture name and the data it is built for.
public struct ModelSpec: Sendable, Hashable, Codable {
    /// One of ``names``: "resnet-small" (the default, the CIFAR ResNet-8 shape for 32-64 px),
    /// "resnet18" or "resnet50" (torchvision's ImageNet definitions).
    public var name: String
    public var classes: Int
    /// Side of the square input, in pixels.
    public var inputSize: Int
    public var channels: Int

    public init(name: String, classes: Int, inputSize: Int, channels: Int = 3) {
        self.name = name
        self.classes = classes
        self.inputSize = inputSize
        self.channels = channels
    }

    /// The architectures ``Network`` can build.
    public static let names = ["resnet-small", "resnet18", "resnet50"]

    /// The architecture used when none is named.
    public static let defaultName = "resnet-small"

    /// Floats in one input image (C x H x W).
    public var inputElements: Int { channels * inputSize * inputSize }
}
