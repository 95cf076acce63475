// swift-tools-version:6.1
import PackageDescription

/// Settings every Loom target shares (one list, applied in a loop, as swift-nio does).
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let grdb = Target.Dependency.product(name: "GRDB", package: "GRDB.swift")
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")

let package = Package(
    name: "Loom",
    products: [
        .executable(name: "loom", targets: ["loom"]),
        .library(name: "LoomStore", targets: ["LoomStore"]),
        .library(name: "LoomImage", targets: ["LoomImage"]),
        .library(name: "LoomIngest", targets: ["LoomIngest"]),
        .library(name: "LoomLoader", targets: ["LoomLoader"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.0.0"),
    ],
    targets: [
        // System libraries, linked through pkg-config. SQLite comes in through GRDB's own
        // system-library target (GRDBSQLite, the same libsqlite3): a second module map over
        // sqlite3.h would clash with it.
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(name: "CSPNG", pkgConfig: "spng", providers: [.apt(["libspng-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CLibCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),

        .target(name: "LoomImage", dependencies: ["CTurboJPEG", "CSPNG"]),
        .target(name: "LoomStore", dependencies: [grdb, "CLZ4", "CZlib", "CLibCrypto"]),
        .target(name: "LoomParallel"),
        .target(name: "LoomIngest", dependencies: ["LoomStore", "LoomImage", "LoomParallel"]),
        .target(name: "LoomDatasets", dependencies: ["LoomImage", "CZlib"]),
        .target(name: "LoomLoader", dependencies: ["LoomStore", "LoomImage", "LoomParallel", grdb]),
        .target(name: "LoomPipeline", dependencies: ["LoomStore", "LoomImage", grdb]),
        .executableTarget(
            name: "loom",
            dependencies: ["LoomStore", "LoomImage", "LoomIngest", "LoomDatasets", "LoomLoader", "LoomPipeline", argumentParser]),

        .target(name: "LoomTestSupport", dependencies: ["LoomImage", "LoomStore"], path: "Tests/LoomTestSupport"),
        .testTarget(name: "LoomImageTests", dependencies: ["LoomImage", "LoomTestSupport"]),
        .testTarget(name: "LoomStoreTests", dependencies: ["LoomStore", "LoomTestSupport", grdb]),
        .testTarget(name: "LoomIngestTests", dependencies: ["LoomIngest", "LoomDatasets", "LoomTestSupport"]),
        .testTarget(name: "LoomLoaderTests", dependencies: ["LoomLoader", "LoomIngest", "LoomTestSupport"]),
        .testTarget(name: "LoomPipelineTests", dependencies: ["LoomPipeline", "LoomIngest", "LoomTestSupport", grdb]),
        .testTarget(name: "LoomCLITests", dependencies: ["LoomStore", "LoomTestSupport"]),
    ]
)

for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + strictSettings
}
