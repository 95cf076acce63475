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
        .library(name: "LoomTrain", targets: ["LoomTrain"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.0.0"),
        // The service (`loom serve`). Hummingbird without its default traits: swift-configuration
        // support is not used, and every trait left out is code CI does not compile.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0", traits: []),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.0"),
        // Hummingbird's own dependencies, named because LoomServer imports them directly.
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),  // ByteBuffer(takingOwnershipOf:): Streaming/FramePixels.swift
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0", traits: []),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.0.0"),
        // The fleet catalog (`--catalog postgresql://...`): PostgreSQL's wire protocol over swift-nio.
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.25.0"),
        // S3-compatible object storage (LoomObjectStore): the HTTP client under a SigV4 signer of our own.
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
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
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),

        // Region decode through libjpeg's own API: TurboJPEG 2.1 (Debian 12) cannot crop.
        .target(name: "CJPEGRegion", linkerSettings: [.linkedLibrary("jpeg")]),
        .target(name: "LoomImage", dependencies: ["CTurboJPEG", "CJPEGRegion", "CSPNG"]),
        // CRC-32 folded with PCLMULQDQ where the CPU has it, zlib's elsewhere (Sources/CCRC32/crc32_fold.c).
        .target(name: "CCRC32", linkerSettings: [.linkedLibrary("z")]),
        // sync_file_range for shard appends (Sources/CWriteback/writeback.c says why it is C).
        .target(name: "CWriteback"),
        // GRDBSQLite: user SQL runs on raw connections of its own (an authorizer, limits, a progress handler).
        .target(name: "LoomStore", dependencies: [
            grdb, .product(name: "GRDBSQLite", package: "GRDB.swift"), "CLZ4", "CCRC32", "CWriteback", "CLibCrypto",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "LoomParallel"),
        .target(name: "LoomObjectStore", dependencies: [
            "CLibCrypto",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        // A fleet store's engines wired together: LoomStore's catalog boundary on one side,
        // LoomObjectStore's S3 client and shard cache on the other.
        .target(name: "LoomFleet", dependencies: ["LoomStore", "LoomObjectStore"]),
        .target(name: "LoomTar", dependencies: ["LoomStore", "CArchive"]),
        .target(name: "LoomIngest", dependencies: ["LoomStore", "LoomImage", "LoomParallel", "LoomTar"]),
        .target(name: "LoomDatasets", dependencies: ["LoomImage", "LoomTar", "CZlib"]),
        .target(name: "LoomLoader", dependencies: ["LoomStore", "LoomImage", "LoomParallel"]),
        // Which Python runs the workers: one finder for the pipeline's process: workers and the torch trainer.
        .target(name: "LoomPython"),
        .target(name: "LoomPipeline", dependencies: ["LoomStore", "LoomImage", "LoomPython"]),
        .target(name: "LoomTrain", dependencies: ["COpenBLAS", "LoomStore", "LoomLoader", "LoomPython", "LoomTar"]),
        .target(name: "LoomExperiment", dependencies: ["LoomTrain", "LoomPipeline", "LoomLoader", "LoomStore"]),
        .target(name: "LoomServer", dependencies: [
            "LoomStore", "LoomLoader", "LoomPipeline", "LoomIngest",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "Mustache", package: "swift-mustache"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .executableTarget(
            name: "loom",
            dependencies: ["LoomStore", "LoomImage", "LoomIngest", "LoomDatasets", "LoomLoader", "LoomPipeline",
                           "LoomTrain", "LoomExperiment", "LoomServer", "LoomFleet", argumentParser]),

        .target(name: "LoomTestSupport", dependencies: ["LoomImage", "LoomStore", "LoomObjectStore"], path: "Tests/LoomTestSupport"),
        .testTarget(name: "LoomImageTests", dependencies: ["LoomImage", "LoomTestSupport"]),
        .testTarget(name: "LoomStoreTests", dependencies: ["LoomStore", "LoomTestSupport", grdb]),
        .testTarget(name: "LoomIngestTests", dependencies: ["LoomIngest", "LoomDatasets", "LoomTestSupport"]),
        .testTarget(name: "LoomLoaderTests", dependencies: ["LoomLoader", "LoomIngest", "LoomTestSupport"]),
        .testTarget(name: "LoomPipelineTests", dependencies: ["LoomPipeline", "LoomPython", "LoomIngest", "LoomTestSupport"]),
        .testTarget(name: "LoomTrainTests", dependencies: ["LoomTrain", "LoomTar", "LoomLoader", "LoomIngest", "LoomStore", "LoomTestSupport"]),
        .testTarget(name: "LoomExperimentTests", dependencies: [
            "LoomExperiment", "LoomTrain", "LoomPipeline", "LoomLoader", "LoomIngest", "LoomImage", "LoomStore", "LoomTar", "LoomTestSupport"]),
        .testTarget(name: "LoomServerTests", dependencies: [
            "LoomServer", "LoomIngest", "LoomTestSupport", .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ]),
        .testTarget(name: "LoomCLITests", dependencies: ["LoomStore", "LoomObjectStore", "LoomTar", "LoomTestSupport"]),
        .testTarget(name: "LoomObjectStoreTests", dependencies: [
            "LoomObjectStore", "LoomTestSupport",
            .product(name: "AsyncHTTPClient", package: "async-http-client"), .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
    ]
)

for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + strictSettings
}
