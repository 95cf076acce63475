import CoreMetrics
import Metrics
import Prometheus
import Synchronization

/// What `/metrics` exports, in Prometheus text format.
///
/// One registry per process, because swift-metrics' `MetricsSystem` is process-wide: it is
/// bootstrapped with the same registry, so anything in the process that records through
/// swift-metrics shows up beside Loom's own series.
final class ServerMetrics: Sendable {
    static let shared = ServerMetrics()

    let registry: PrometheusCollectorRegistry
    private let queueDepth: Prometheus.Gauge
    private let streams: Prometheus.Gauge
    private let batches: Prometheus.Counter
    private let samples: Prometheus.Counter
    private let batchBytes: Prometheus.Counter
    /// Frames ready and waiting to be sent, over all streams.
    private let depth = Mutex<Int>(0)
    private let activeStreams = Mutex<Int>(0)

    private init() {
        registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        queueDepth = registry.makeGauge(descriptor: Self.name(
            "loader", "queue_depth", "",
            "Batches decoded and waiting to be sent, over all batch streams (near 0: the loader is the bottleneck; near the limit: the clients are)"))
        streams = registry.makeGauge(descriptor: Self.name("batch", "streams", "", "Batch streams being served"))
        batches = registry.makeCounter(descriptor: Self.name("", "batches", "total", "Batches sent over /v1/batches (rate() gives batches/s)"))
        samples = registry.makeCounter(descriptor: Self.name("batch", "samples", "total", "Samples sent over /v1/batches"))
        batchBytes = registry.makeCounter(descriptor: Self.name("batch", "bytes", "total", "Bytes of batch frames sent"))
    }

    private static func name(_ subsystem: String, _ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "loom", subsystem: subsystem, metricName: metric, unitName: unit, helpText: help)
    }

    private static let durationBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
    ]

    /// One finished request. `route` is the route's pattern (`/v1/blobs/{digest}`), never the
    /// raw path, so the number of series stays bounded.
    func request(method: String, route: String, status: Int, duration: Duration, requestBytes: Int, responseBytes: Int?) {
        let labels = [("method", method), ("route", route), ("status", String(status))]
        registry.makeCounter(descriptor: Self.name("http", "requests", "total", "HTTP requests answered"), labels: labels).increment()
        registry.makeDurationHistogram(
            descriptor: Self.name("http", "request_duration", "seconds", "Time to the response head (for streams: until the stream starts)"),
            labels: [("method", method), ("route", route)], buckets: Self.durationBuckets
        ).record(duration)
        if requestBytes > 0 { self.requestBytes(requestBytes, route: route) }
        if let responseBytes { self.responseBytes(responseBytes, route: route) }
    }

    func requestBytes(_ count: Int, route: String) {
        registry.makeCounter(descriptor: Self.name("http", "request_bytes", "total", "Request body bytes received"),
                             labels: [("route", route)]).increment(by: Int64(count))
    }

    func responseBytes(_ count: Int, route: String) {
        registry.makeCounter(descriptor: Self.name("http", "response_bytes", "total", "Response body bytes sent"),
                             labels: [("route", route)]).increment(by: Int64(count))
    }

    func batchSent(samples count: Int, bytes: Int) {
        batches.increment()
        samples.increment(by: Int64(count))
        batchBytes.increment(by: Int64(bytes))
        responseBytes(bytes, route: "/v1/batches")
    }

    func queueDepthChanged(by delta: Int) {
        let value = depth.withLock { $0 += delta; return $0 }
        queueDepth.set(Double(value))
    }

    func streamStarted() { streams.set(Double(activeStreams.withLock { $0 += 1; return $0 })) }
    func streamEnded() { streams.set(Double(activeStreams.withLock { $0 -= 1; return $0 })) }

    func exposition() -> [UInt8] { registry.emitToBuffer() }
}
