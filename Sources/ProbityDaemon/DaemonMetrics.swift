#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Prometheus
import ProbityContracts
import ProbityEvents
import ProbityProbes
import Synchronization

/// The daemon's metrics in the Prometheus text format (swift-prometheus): events by kind, events
/// lost by kind, violations by severity, the evaluation latency (one event in 64 is timed). Read
/// through the control socket (`metrics`) and, when `metrics-address` is set, over HTTP.
final class DaemonMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let events: [EventKind: Counter]
    private let lost: [EventKind: Counter]
    private let violations: [Severity: Counter]
    private let evaluation: DurationHistogram
    private let storeRows: Gauge
    private let lastLost = Mutex<[EventKind: UInt64]>([:])

    init() {
        var events: [EventKind: Counter] = [:]
        var lost: [EventKind: Counter] = [:]
        for kind in EventKind.allCases {
            events[kind] = registry.makeCounter(
                descriptor: Self.name("events", unit: "total", help: "Events delivered, by kind."), labels: [("kind", kind.description)])
            lost[kind] = registry.makeCounter(
                descriptor: Self.name("lost_events", unit: "total", help: "Events the kernel could not put in the ring buffer, by kind."),
                labels: [("kind", kind.description)])
        }
        var violations: [Severity: Counter] = [:]
        for severity in Severity.allCases {
            violations[severity] = registry.makeCounter(
                descriptor: Self.name("violations", unit: "total", help: "Violations stored, by severity."),
                labels: [("severity", severity.rawValue)])
        }
        self.events = events
        self.lost = lost
        self.violations = violations
        evaluation = registry.makeDurationHistogram(
            descriptor: Self.name(
                "evaluation_duration", unit: "seconds", help: "Time to judge one event against the contracts (one event in 64 is timed)."),
            buckets: [.nanoseconds(250), .nanoseconds(500), .microseconds(1), .microseconds(2), .microseconds(5),
                      .microseconds(10), .microseconds(50), .microseconds(250), .milliseconds(1)])
        storeRows = registry.makeGauge(descriptor: Self.name("store_rows", unit: "", help: "Violations in the store."))
    }

    /// `probity_NAME_UNIT` (no unit suffix when `unit` is empty).
    private static func name(_ name: String, unit: String, help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "probity", metricName: name, unitName: unit, helpText: help)
    }

    func event(_ kind: EventKind) { events[kind]?.increment() }
    func violation(_ severity: Severity) { violations[severity]?.increment() }
    func evaluated(nanoseconds: Int64) { evaluation.recordNanoseconds(nanoseconds) }

    /// The text exposition, after bringing the counters read from elsewhere up to date.
    func text(probes: KernelProbes?, storeRows rows: Int) -> String {
        if let probes {
            let drops = probes.kernelDrops()
            lastLost.withLock { last in
                for (kind, total) in drops where total > (last[kind] ?? 0) {
                    lost[kind]?.increment(by: Int64(total - (last[kind] ?? 0)))
                    last[kind] = total
                }
            }
        }
        storeRows.set(Double(rows))
        return registry.emitToString()
    }
}

/// `GET /metrics` over HTTP/1.1 on one address (off unless `metrics-address` is set).
final class MetricsHTTPServer: @unchecked Sendable {
    // Safety: the listening socket belongs to the server thread after start().
    private let fd: Int32
    private let running = Atomic<Bool>(false)
    private let body: @Sendable () -> String

    /// Listens on `address` (`HOST:PORT`, IPv4).
    init(address: String, body: @escaping @Sendable () -> String) throws(DaemonError) {
        self.body = body
        let parts = address.split(separator: ":")
        guard parts.count == 2, let port = UInt16(parts[1]) else {
            throw DaemonError(operation: "listen for metrics on \(address) (expected HOST:PORT)", errno: EINVAL)
        }
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = port.bigEndian
        guard inet_pton(AF_INET, String(parts[0]), &sin.sin_addr) == 1 else {
            throw DaemonError(operation: "listen for metrics on \(address) (not an IPv4 address)", errno: EINVAL)
        }
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard fd >= 0, bound == 0, listen(fd, 16) == 0 else {
            let err = errno
            close(fd)
            throw DaemonError(operation: "listen for metrics on \(address)", errno: err)
        }
    }

    func start() {
        guard !running.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let thread = Thread { [self] in
            while running.load(ordering: .relaxed) {
                var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&poller, 1, 200) > 0 else { continue }
                let client = accept(fd, nil, nil)
                if client < 0 { continue }
                serve(client)
                close(client)
            }
        }
        thread.name = "probity-metrics"
        thread.start()
    }

    func stop() {
        running.store(false, ordering: .relaxed)
        usleep(250_000)
        close(fd)
    }

    private func serve(_ client: Int32) {
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        _ = setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request = [UInt8](repeating: 0, count: 4096)
        let n = request.withUnsafeMutableBytes { read(client, $0.baseAddress, $0.count) }
        guard n > 0 else { return }
        let line = String(decoding: request[0..<n], as: UTF8.self).split(separator: "\r\n").first ?? ""
        let response: String
        if line.hasPrefix("GET /metrics ") || line == "GET /metrics" {
            let text = body()
            response = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: \(text.utf8.count)\r\nConnection: close\r\n\r\n\(text)"
        } else {
            response = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        }
        var bytes = Array(response.utf8)
        var offset = 0
        while offset < bytes.count {
            let w = bytes.withUnsafeMutableBytes { send(client, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if w <= 0 { return }
            offset += w
        }
    }
}
