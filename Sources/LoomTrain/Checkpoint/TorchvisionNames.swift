/// Loom's ResNets name their stages `stageN`; torchvision's `layerN`. Every other parameter and
/// buffer name, and every layout, is already torchvision's, so this is the whole mapping.
enum TorchvisionNames {
    /// The models whose stored weights take torchvision's names (resnet-small keeps Loom's, as
    /// tools/workers/torch_trainer.py's ResNetSmall does).
    static func apply(to model: String) -> Bool { model == "resnet18" || model == "resnet50" }

    static func torchvision(_ name: String) -> String { renamed(name, from: "stage", to: "layer") }

    static func loom(_ name: String) -> String { renamed(name, from: "layer", to: "stage") }

    private static func renamed(_ name: String, from: String, to: String) -> String {
        guard name.hasPrefix(from), let dot = name.firstIndex(of: "."),
              Int(name[name.index(name.startIndex, offsetBy: from.count)..<dot]) != nil else { return name }
        return to + name.dropFirst(from.count)
    }
}
