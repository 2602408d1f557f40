import ProbityAttribution
import ProbityEvents
import ProbityProcess
import ProbitySinks

/// Events to the control socket's followers and, with `export-events`, to the fleet export, in
/// the one event schema (`docs/events.md`, as `probity trace --json` writes it). An event is
/// encoded only when someone takes it.
final class EventPublisher: @unchecked Sendable {
    // Safety: `publish` runs on the pipeline thread only (the encoder is its own); `followers`
    // is set once before the pipeline starts.
    private let export: FleetExport?
    private let counters: DaemonCounters
    private let log: DaemonLog
    private let encoder = EventJSONEncoder()
    var followers: ControlServer?

    init(export: FleetExport?, counters: DaemonCounters, log: DaemonLog) {
        self.export = export?.includesEvents == true ? export : nil
        self.counters = counters
        self.log = log
    }

    func publish(_ event: Event, process: TrackedProcess?, attribution: Attribution?) {
        let following = (followers?.eventFollowers ?? 0) > 0
        guard following || export != nil else { return }
        var line = Array("{\"event\":".utf8)
        line += encoder.line(event, process: process, attribution: attribution)
        line.append(UInt8(ascii: "}"))
        if let export {
            do { try export.append(line) } catch {
                counters.exportFailures.add(1, ordering: .relaxed)
                log("\(error)", priority: 3)
            }
        }
        guard following, let followers else { return }
        let kind = event.kind.description
        let package = attribution?.package?.name
        followers.publish(kind: "event", line: line) { filter in
            if let k = filter["kind"], k != kind { return false }
            if let p = filter["package"], p != package { return false }
            return true
        }
    }
}
