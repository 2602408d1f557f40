import Foundation
import Synchronization
import ProbityAttribution
import ProbityContracts
import ProbityEvents
import ProbityMonitor
import ProbityProcess

/// What the daemon does with each event, on the pipeline thread: count it, keep it for `events`,
/// publish it, judge it against the contracts, feed re-validation, and record what it broke
/// (identical findings within a minute once, with a count).
final class DaemonPipeline: @unchecked Sendable {
    // Safety: used only on the pipeline thread, except `isHealthy` (atomic).
    struct Parts {
        var contracts: ContractStore
        var watched: WatchedCgroups?
        var counters: DaemonCounters
        var metrics: DaemonMetrics
        var recent: RecentEvents
        var events: EventPublisher
        var recorder: ViolationRecorder
        var integrity: IntegrityFeed?
    }

    private let parts: Parts
    private var evaluator: Evaluator
    private var generation: UInt64 = 0
    private var repeats = RepeatSuppressor()
    private let heartbeat = Atomic<UInt64>(0)
    private var sampled: UInt64 = 0

    init(_ parts: Parts, evaluator: Evaluator) {
        self.parts = parts
        self.evaluator = evaluator
    }

    /// The pipeline is alive: it handled an event, or has nothing to handle, recently.
    var isHealthy: Bool {
        let last = heartbeat.load(ordering: .relaxed)
        return last == 0 || WallClock.bootTimeNow() - last < 30_000_000_000
    }

    func handle(_ event: Event, context: EventContext, monitor: Monitor) {
        heartbeat.store(event.header.bootTimeNanoseconds, ordering: .relaxed)
        // Only some cgroups watched: the process table and attribution still see everything (a
        // process may move in), but only watched events are counted, judged and published.
        if let watched = parts.watched, !watched.contains(event.header.cgroupID) { return }
        parts.counters.count(event.kind)
        parts.metrics.event(event.kind)
        sampled &+= 1
        parts.recent.append(event, process: context.process, attribution: context.attribution)
        parts.events.publish(event, process: context.process, attribution: context.attribution)
        evaluator.refresh(from: parts.contracts, generation: &generation)
        let timed = sampled & 63 == 0
        let start = timed ? WallClock.bootTimeNow() : 0
        let found = evaluator.evaluate(event, process: context.process, attribution: context.attribution, caller: context.caller) { pid in
            monitor.processTable.lineage(of: pid, limit: 8)
        }
        if timed { parts.metrics.evaluated(nanoseconds: Int64(WallClock.bootTimeNow() - start)) }
        parts.integrity?.consider(event, context: context)
        for violation in found {
            if let counted = repeats.admit(violation, unixSeconds: Int64(Date().timeIntervalSince1970)) { parts.recorder.record(counted) }
        }
    }
}

/// Identical findings (same ``Violation/key``) within a minute are recorded once: the first is
/// recorded at once, the repeats are counted and added to the next one recorded after the minute.
struct RepeatSuppressor {
    private var seen: [String: (unixSeconds: Int64, suppressed: Int)] = [:]
    /// How many keys are remembered before the memory is cleared (a flood of distinct findings).
    static let capacity = 100_000

    /// The violation to record (with the repeats it stands for), or nil when it is a repeat.
    mutating func admit(_ violation: Violation, unixSeconds now: Int64) -> Violation? {
        if let last = seen[violation.key], now - last.unixSeconds < 60 {
            seen[violation.key] = (last.unixSeconds, last.suppressed + 1)
            return nil
        }
        var counted = violation
        counted.count += seen[violation.key]?.suppressed ?? 0
        if seen.count >= Self.capacity { seen.removeAll() }
        seen[violation.key] = (now, 0)
        return counted
    }
}
