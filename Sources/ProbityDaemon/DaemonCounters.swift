import Foundation
import Synchronization
import ProbityEvents

/// Counters the status request reads while the pipeline runs.
final class DaemonCounters: Sendable {
    private let events = Mutex<[UInt64]>([UInt64](repeating: 0, count: Int(EventKind.allCases.map(\.rawValue).max() ?? 0) + 1))
    let violations = Atomic<UInt64>(0)
    let storeFailures = Atomic<UInt64>(0)
    let exportFailures = Atomic<UInt64>(0)

    func count(_ kind: EventKind) {
        events.withLock { counts in
            if Int(kind.rawValue) < counts.count { counts[Int(kind.rawValue)] &+= 1 }
        }
    }

    var byKind: [String: UInt64] {
        let counts = events.withLock { $0 }
        var out: [String: UInt64] = [:]
        for kind in EventKind.allCases where Int(kind.rawValue) < counts.count { out[kind.description] = counts[Int(kind.rawValue)] }
        return out
    }

    private let window = Mutex<(previous: (Date, [String: UInt64])?, rates: [String: Double])>((nil, [:]))

    /// Takes a sample (housekeeping, every 5 s); rates are per second between the last two.
    func sample() {
        let now = Date()
        let counts = byKind
        window.withLock { w in
            if let (then, before) = w.previous, now.timeIntervalSince(then) > 0 {
                let elapsed = now.timeIntervalSince(then)
                var rates: [String: Double] = [:]
                for (kind, n) in counts { rates[kind] = (Double(n &- (before[kind] ?? 0)) / elapsed * 10).rounded() / 10 }
                w.rates = rates
            }
            w.previous = (now, counts)
        }
    }

    var rates: [String: Double] { window.withLock { $0.rates } }

    var statusLine: String {
        let total = byKind.values.reduce(0, +)
        return "\(total) events, \(violations.load(ordering: .relaxed)) violations"
    }
}
