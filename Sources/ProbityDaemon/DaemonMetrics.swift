#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
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

