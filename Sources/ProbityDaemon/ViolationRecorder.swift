import Foundation
import ProbityContracts
import ProbityEvents
import ProbitySinks

/// Where a violation goes, in this order: the store first (so that nothing a follower or the
/// journal heard of is missing from it after a crash), then the fleet export, journald with
/// structured fields, and the control socket's followers.
final class ViolationRecorder: @unchecked Sendable {
    // Safety: `record` is called from the pipeline and the re-validation threads and serialises
    // itself with `lock`; `followers` is set once before either thread starts.
    private let store: ViolationStore
    private let export: FleetExport?
    private let journal: JournalWriter?
    private let counters: DaemonCounters
    private let metrics: DaemonMetrics
    private let log: DaemonLog
    private let lock = NSLock()
    private var clock = WallClock()
    /// The control server, once it exists.
    var followers: ControlServer?

    init(store: ViolationStore, export: FleetExport?, journal: JournalWriter?, counters: DaemonCounters, metrics: DaemonMetrics, log: DaemonLog) {
        self.store = store
        self.export = export
        self.journal = journal
        self.counters = counters
        self.metrics = metrics
        self.log = log
    }

    /// Stores, then publishes, one violation.
    func record(_ violation: Violation) {
        lock.lock()
        defer { lock.unlock() }
        let unix = clock.unixNanoseconds(boot: violation.bootTimeNanoseconds)
        // The store's row id names the violation everywhere it goes (`violations` answers,
        // followers, the export): a shipper that reads a line twice can be deduplicated by it.
        var id: Int64?
        do {
            id = try store.insert(violation, unixNanoseconds: unix)
        } catch {
            counters.storeFailures.add(1, ordering: .relaxed)
            log("\(error)", priority: 3)
        }
        counters.violations.add(1, ordering: .relaxed)
        metrics.violation(violation.severity)
        let object = ViolationJSON.object(violation)
        var fields: [String: Any] = ["violation": object, "unix_ns": unix]
        if let id { fields["id"] = id }
        let line = (try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        if let export {
            do { try export.append(Array(line)) } catch {
                counters.exportFailures.add(1, ordering: .relaxed)
                log("\(error)", priority: 3)
            }
        }
        journal?.send([
            ("MESSAGE", "\(violation.package?.displayName ?? "unattributed code") broke \(violation.contract)/\(violation.rule): \(violation.message)"),
            ("PRIORITY", violation.severity >= .high ? "3" : "4"),
            ("SYSLOG_IDENTIFIER", "probityd"),
            ("PROBITY_RULE", "\(violation.contract)/\(violation.rule)"),
            ("PROBITY_SEVERITY", violation.severity.rawValue),
            ("PROBITY_PACKAGE", violation.package?.name ?? ""),
            ("PROBITY_PURL", violation.package?.purl ?? ""),
            ("PROBITY_PID", "\(violation.processes.first?.pid ?? 0)"),
            ("PROBITY_VIOLATION", String(decoding: line, as: UTF8.self)),
        ])
        guard let followers else { return }
        let captured = violation
        followers.publish(kind: "violation", line: Array(line)) { filter in
            var f = ViolationStore.Filter()
            f.package = filter["package"]
            f.rule = filter["rule"]
            f.minimumSeverity = filter["severity"].flatMap(Severity.init(rawValue:))
            return f.accepts(captured, unixNanoseconds: unix)
        }
    }
}
