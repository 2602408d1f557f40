#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization

/// SIGTERM and SIGINT stop the daemon, SIGHUP reloads it. The signals are taken from their
/// default action and delivered through Dispatch signal sources (as swift-service-lifecycle does
/// on Linux), from the moment this is made: a SIGTERM during start-up is not lost, and nothing
/// polls a flag.
final class DaemonSignals: @unchecked Sendable {
    // Safety: `sources` is written once in init; Dispatch sources are thread-safe.
    private let queue = DispatchQueue(label: "probity-signals")
    private let stopRequested = DispatchSemaphore(value: 0)
    /// What SIGHUP does, once set by ``wait(onReload:)``.
    private final class ReloadHandler: Sendable { let body = Mutex<(@Sendable () -> Void)?>(nil) }
    private let reload = ReloadHandler()
    private let sources: [any DispatchSourceSignal]

    init() {
        signal(SIGPIPE, SIG_IGN)
        var sources: [any DispatchSourceSignal] = []
        let stop = stopRequested, reload = reload
        for number in [SIGTERM, SIGINT, SIGHUP] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            if number == SIGHUP {
                source.setEventHandler { reload.body.withLock { $0 }?() }
            } else {
                source.setEventHandler { stop.signal() }
            }
            source.resume()
            sources.append(source)
        }
        self.sources = sources
    }

    deinit { for source in sources { source.cancel() } }

    /// Blocks until SIGTERM or SIGINT; SIGHUP meanwhile calls `onReload` (on the signal queue,
    /// one at a time).
    func wait(onReload: @escaping @Sendable () -> Void) {
        reload.body.withLock { $0 = onReload }
        stopRequested.wait()
        reload.body.withLock { $0 = nil }
    }
}
