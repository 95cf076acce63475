import LoomStore

/// Readable names for datasets that ship without a names file: fast.ai's ImageNette and
/// Imagewoof (`imagenette2/{train,val}/<wnid>/`). A table applies only when a dataset's classes
/// are exactly its ten wnids, so a subset or a different dataset never gets names that merely
/// happen to share some wnids.
enum KnownClassNames {
    struct Table {
        var name: String
        var names: [ExactName: (name: String, promptName: String)]

        init(_ name: String, _ pairs: KeyValuePairs<String, String>) {
            self.name = name
            var names: [ExactName: (name: String, promptName: String)] = [:]
            for (wnid, className) in pairs { names[ExactName(wnid)] = (className, className) }
            self.names = names
        }
    }

    static let imagenette = Table("imagenette", [
        "n01440764": "tench", "n02102040": "English springer", "n02979186": "cassette player",
        "n03000684": "chain saw", "n03028079": "church", "n03394916": "French horn",
        "n03417042": "garbage truck", "n03425413": "gas pump", "n03445777": "golf ball", "n03888605": "parachute",
    ])

    static let imagewoof = Table("imagewoof", [
        "n02086240": "Shih-Tzu", "n02087394": "Rhodesian ridgeback", "n02088364": "beagle",
        "n02089973": "English foxhound", "n02093754": "Border terrier", "n02096294": "Australian terrier",
        "n02099601": "golden retriever", "n02105641": "Old English sheepdog", "n02111889": "Samoyed", "n02115641": "dingo",
    ])

    /// The table whose wnids are exactly `classes`, if any.
    static func table(for classes: Set<ExactName>) -> Table? {
        [imagenette, imagewoof].first { Set($0.names.keys) == classes }
    }
}
