import Foundation
import Synchronization
import ProbityAttribution
import ProbityContracts
import ProbityEvents
import ProbityMonitor
import ProbitySinks

/// The last events seen, for the `events` request.
final class RecentEvents: Sendable {
    private let ring: Mutex<(items: [(Event, Attribution?)], next: Int)>
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        ring = Mutex(([], 0))
    }

    func append(_ event: Event, attribution: Attribution?) {
        guard capacity > 0 else { return }
        ring.withLock { ring in
            if ring.items.count < capacity {
                ring.items.append((event, attribution))
            } else {
                ring.items[ring.next] = (event, attribution)
            }
            ring.next = (ring.next + 1) % capacity
        }
    }

    /// The newest `limit` events, oldest first.
    func latest(_ limit: Int) -> [(Event, Attribution?)] {
        ring.withLock { ring in
            let ordered = ring.items.count < capacity ? ring.items : Array(ring.items[ring.next...] + ring.items[..<ring.next])
            return Array(ordered.suffix(max(0, limit)))
        }
    }

    /// The fields of an event that people filter and read (docs/events.md names them).
    static func summary(_ event: Event, attribution: Attribution?, clock: inout WallClock) -> [String: Any] {
        let h = event.header
        var out: [String: Any] = ["kind": event.kind.description, "time": clock.rfc3339(boot: h.bootTimeNanoseconds),
                                  "pid": Int(h.pid), "ppid": Int(h.ppid), "uid": Int(h.uid)]
        switch event {
        case .exec(let e):
            out["exe"] = e.executable.isEmpty ? e.filename : e.executable
            out["argv"] = Array(e.argv.prefix(16))
            out["result"] = Int(e.result)
        case .open(let o):
            out["path"] = o.path
            out["flags"] = o.flags.names
            out["result"] = Int(o.result)
        case .unlink(let u):
            out["path"] = u.path
            out["result"] = Int(u.result)
        case .link(let l):
            out["path"] = l.destination
            out["source"] = l.source
            out["operation"] = l.operation.rawValue
            out["result"] = Int(l.result)
        case .memory(let m):
            out["target_pid"] = Int(m.targetPID)
            out["syscall"] = m.syscall.description
            out["result"] = Int(m.result)
        case .abi(let a):
            out["abi"] = a.abiName
            out["number"] = Int(a.number)
        case .connect(let c):
            out["address"] = c.destination.address
            if let port = c.destination.port { out["port"] = Int(port) }
            out["protocol"] = c.transport.description
            out["result"] = Int(c.result)
        case .fork(let f):
            out["child_pid"] = Int(f.childPID)
        case .exit(let x):
            if let code = x.exitCode { out["exit_code"] = Int(code) }
            if let signal = x.signal { out["signal"] = Int(signal) }
        case .ioUring(let u):
            out["operation"] = u.operation
        }
        if let package = attribution?.package {
            out["package"] = ["name": package.name, "version": package.version ?? "", "source": package.source.rawValue]
        }
        return out
    }
}

extension Daemon: ControlService {
    /// The answer to one request (the server's worker threads; `follow` never comes here).
    public func respond(to request: ControlRequest) -> any ControlAnswer {
        switch request {
        case .status: return status()
        case .violations(let query): return violations(query)
        case .events(let query):
            var clock = WallClock()
            return EventsAnswer(events: recent.latest(query.limit).map {
                JSONValue(any: RecentEvents.summary($0.0, attribution: $0.1, clock: &clock))
            })
        case .whose(let query):
            let index = indexSnapshot
            return WhoseAnswer(owners: query.paths.map { path in
                guard let owner = index.owner(of: path) else { return WhoseAnswer.Owner(path: path) }
                return WhoseAnswer.Owner(path: path, package: owner.package.name, version: owner.package.version ?? "",
                                         source: owner.package.source.rawValue, purl: owner.package.purl ?? "")
            })
        case .packages:
            var bySource: [String: Int] = [:]
            let index = indexSnapshot
            for p in index.packages { bySource[p.source.rawValue, default: 0] += 1 }
            return PackagesAnswer(packages: bySource, files: index.fileCount)
        case .reload:
            let outcome = reloadContracts()
            let generation = contracts.snapshot.generation
            if let failure = outcome.failure { return ControlFailure(failure, generation: generation) }
            return ReloadAnswer(generation: generation, warnings: outcome.warnings.isEmpty ? nil : outcome.warnings)
        case .metrics:
            return MetricsAnswer(metrics: metrics.text(probes: probesSnapshot, storeRows: (try? store.count()) ?? 0))
        case .loadSBOM(let load):
            return loadSBOM(load.path)
        case .follow:
            return ControlFailure("`follow` is handled by the server")
        }
    }

    var indexSnapshot: PathIndex { indexValue }

    func status() -> StatusAnswer {
        let snapshot = contracts.snapshot
        var answer = StatusAnswer(
            pid: getpid(),
            uptimeSeconds: Int(Date().timeIntervalSince(started)),
            events: counters.byKind,
            violations: counters.violations.load(ordering: .relaxed),
            store: .init(path: store.path, rows: (try? store.count()) ?? -1, failures: counters.storeFailures.load(ordering: .relaxed)),
            contracts: .init(files: snapshot.contracts.files, generation: snapshot.generation,
                             contracts: snapshot.contracts.contractCount, rules: snapshot.contracts.ruleCount),
            packages: indexSnapshot.packages.count,
            sboms: sbomsLoaded,
            eventsPerSecond: counters.rates,
            watching: watched.map { .cgroups(paths: $0.paths, units: $0.units, ids: $0.count) } ?? .host)
        if let r = revalidator {
            answer.revalidation = .init(
                digests: r.digests.count, hashed: r.hashed.load(ordering: .relaxed),
                unchanged: r.skippedUnchanged.load(ordering: .relaxed), dropped: r.dropped.load(ordering: .relaxed))
        }
        if let probes = probesSnapshot {
            answer.hooks = probes.hookStatus.map { .init(program: $0.hook.program, attach: $0.hook.attachPoint, state: $0.state.rawValue) }
            var lost: [String: UInt64] = [:]
            for (kind, n) in probes.kernelDrops() { lost[kind.description] = n }
            answer.lost = lost
        }
        return answer
    }

    func violations(_ query: ViolationsQuery) -> any ControlAnswer {
        var filter = ViolationStore.Filter()
        filter.sinceUnixNanoseconds = query.sinceUnixNanoseconds
        filter.package = query.package
        filter.rule = query.rule
        filter.minimumSeverity = query.minimumSeverity
        filter.limit = query.limit
        do {
            let rows = try store.query(filter)
            let encoder = ViolationJSON.encoder()
            return ViolationsAnswer(violations: rows.map { row in
                let object = (try? encoder.encode(row.violation)).map(Array.init) ?? Array("{}".utf8)
                return ViolationsAnswer.stored(object, id: Int64(row.id), unixNanoseconds: Int64(row.unixNanoseconds))
            })
        } catch {
            return ControlFailure("\(error)")
        }
    }
}
