import Synchronization
import ProbityAttribution
import ProbityEvents
import ProbityProcess
import ProbitySinks

/// The last events seen, for the `events` request: kept as they came (with the process and the
/// attribution of the moment) and encoded only when asked for, in the schema of `docs/events.md`.
final class RecentEvents: Sendable {
    struct Entry: Sendable {
        var event: Event
        var process: TrackedProcess?
        var attribution: Attribution?
    }

    private let ring: Mutex<(items: [Entry], next: Int)>
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(0, capacity)
        ring = Mutex(([], 0))
    }

    func append(_ event: Event, process: TrackedProcess?, attribution: Attribution?) {
        guard capacity > 0 else { return }
        let entry = Entry(event: event, process: process, attribution: attribution)
        ring.withLock { ring in
            if ring.items.count < capacity {
                ring.items.append(entry)
            } else {
                ring.items[ring.next] = entry
            }
            ring.next = (ring.next + 1) % capacity
        }
    }

    /// The newest `limit` events, oldest first.
    func latest(_ limit: Int) -> [Entry] {
        ring.withLock { ring in
            let ordered = ring.items.count < capacity ? ring.items : Array(ring.items[ring.next...] + ring.items[..<ring.next])
            return Array(ordered.suffix(max(0, limit)))
        }
    }

    /// The newest `limit` events as JSON objects (docs/events.md), oldest first.
    func encoded(_ limit: Int) -> [[UInt8]] {
        let encoder = EventJSONEncoder()
        return latest(limit).map { encoder.line($0.event, process: $0.process, attribution: $0.attribution) }
    }
}
