import Foundation
@testable import LoomLoader
import LoomStore
import LoomTestSupport
import Synchronization
import Testing

/// A worker that cannot start must fail the epoch, not leave the consumer waiting for batches
/// nobody will fill. A renderer's only failure is libjpeg-turbo's handle allocation, which no
/// test can provoke without starving the whole process, so these tests use the loader's
/// renderer factory.
@Suite("Loader worker failures", .timeLimit(.minutes(1)))
struct LoaderFailureTests {
    static let train32 = TransformSpec(size: 32, augment: .train)

    struct NoHandle: Error, CustomStringConvertible {
        var description: String { "libjpeg-turbo: tjInitDecompress failed" }
    }

    func makeLoader(_ fixture: LoaderFixture, workers: Int, failing: Int) throws -> Loader {
        let started = Mutex(0)
        return try Loader(
            store: fixture.store, table: try fixture.table(), spec: Self.train32, config: SamplerConfig(seed: 3), epoch: 0,
            options: .init(batchSize: 4, workers: workers), startPosition: 0,
            makeRenderer: { spec in
                let index = started.withLock { count -> Int in
                    defer { count += 1 }
                    return count
                }
                if index < failing { throw NoHandle() }
                return try SampleRenderer(spec: spec)
            })
    }

    @Test("no worker can make its renderer: the loader fails with the reason instead of waiting forever", .tags(.hardening))
    func everyRendererFails() throws {
        let fixture = try LoaderFixture()
        #expect {
            let loader = try makeLoader(fixture, workers: 2, failing: 2)
            while try loader.next() != nil {}
        } throws: { error in
            error is LoaderError && "\(error)".contains("tjInitDecompress failed") && "\(error)".contains("renderer")
        }
    }

    @Test("one worker of three cannot start: the loader fails with its reason, it does not go on short-handed", .tags(.hardening))
    func oneRendererFails() throws {
        let fixture = try LoaderFixture()
        #expect {
            let loader = try makeLoader(fixture, workers: 3, failing: 1)
            while try loader.next() != nil {}
        } throws: { error in
            "\(error)".contains("tjInitDecompress failed")
        }
        let healthy = try makeLoader(fixture, workers: 3, failing: 0)
        #expect(try drain(healthy).count == 12, "47 samples in batches of 4")
    }
}
