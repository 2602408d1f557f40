import Dispatch
import Foundation

/// The daemon's periodic work, each on a timer of its own: the systemd watchdog (at half its
/// interval, only while the pipeline is healthy), the status line (every 5 s), the watched
/// cgroups (every 2 s), and the store's retention (at start, then every minute).
final class Housekeeping: @unchecked Sendable {
    // Safety: `timers` is written once in init; Dispatch sources are thread-safe.
    private let queue = DispatchQueue(label: "probity-housekeeping")
    private let timers: [any DispatchSourceTimer]

    init(daemon: Daemon, pipeline: DaemonPipeline) {
        var timers: [any DispatchSourceTimer] = []
        let queue = queue
        func every(_ seconds: Double, startingNow: Bool = false, _ work: @escaping @Sendable () -> Void) {
            let timer = DispatchSource.makeTimerSource(queue: queue)
            timer.schedule(deadline: startingNow ? .now() : .now() + seconds, repeating: seconds, leeway: .milliseconds(100))
            timer.setEventHandler(handler: work)
            timers.append(timer)
        }
        let notifier = daemon.notifier, counters = daemon.counters
        if let microseconds = notifier.watchdogMicroseconds {
            every(Double(microseconds) / 2e6) { if pipeline.isHealthy { notifier.notify("WATCHDOG=1") } }
        }
        every(5) {
            counters.sample()
            notifier.notify("STATUS=\(counters.statusLine)")
        }
        if let watched = daemon.watched { every(2) { watched.refresh() } }
        let store = daemon.store, retention = daemon.configuration.retentionNanoseconds, rows = daemon.configuration.retentionRows
        every(60, startingNow: true) {
            let cutoff = Int64(Date().timeIntervalSince1970 * 1e9) - retention
            _ = try? store.prune(olderThanUnixNanoseconds: cutoff, maximumRows: rows)
        }
        self.timers = timers
    }

    func start() { for timer in timers { timer.resume() } }

    /// Cancels every timer; returns once none is running.
    func stop() {
        for timer in timers { timer.cancel() }
        queue.sync {}
    }
}
