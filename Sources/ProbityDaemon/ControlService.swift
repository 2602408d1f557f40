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
    public func respond(to request: [String: Any]) -> [String: Any] {
        let name = request["request"] as? String ?? ""
        switch name {
        case "status": return status()
        case "violations": return violations(request)
        case "events":
            var clock = WallClock()
            let limit = (request["limit"] as? Int) ?? 100
            return ["ok": true, "events": recent.latest(min(limit, 10_000)).map { RecentEvents.summary($0.0, attribution: $0.1, clock: &clock) }]
        case "whose":
            guard let paths = request["paths"] as? [String] else { return Self.error("`whose` needs \"paths\": [\"/abs/path\", ...]") }
            return ["ok": true, "owners": paths.map { path -> [String: Any] in
                guard let owner = indexSnapshot.owner(of: path) else { return ["path": path] }
                return ["path": path, "package": owner.package.name, "version": owner.package.version ?? "",
                        "source": owner.package.source.rawValue, "purl": owner.package.purl ?? ""]
            }]
        case "packages":
            var bySource: [String: Int] = [:]
            for p in indexSnapshot.packages { bySource[p.source.rawValue, default: 0] += 1 }
            return ["ok": true, "packages": bySource, "files": indexSnapshot.fileCount]
        case "reload":
            if let failure = reloadContracts() { return ["ok": false, "error": failure, "generation": Int(contracts.snapshot.generation)] }
            return ["ok": true, "generation": Int(contracts.snapshot.generation)]
        case "metrics":
            return ["ok": true, "metrics": metrics.text(probes: probesSnapshot, storeRows: (try? store.count()) ?? 0)]
        case "load-sbom":
            guard let path = request["path"] as? String, path.hasPrefix("/") else {
                return Self.error("`load-sbom` needs \"path\": the absolute path of an SBOM file the daemon can read")
            }
            return loadSBOM(path)
        case "":
            return Self.error("missing \"request\"")
        default:
            return Self.error("unknown request `\(name)` (status, violations, follow, events, whose, packages, metrics, reload, load-sbom)")
        }
    }

    static func error(_ message: String) -> [String: Any] { ["ok": false, "error": message] }

    var indexSnapshot: PathIndex { indexValue }

    func status() -> [String: Any] {
        let snapshot = contracts.snapshot
        var result: [String: Any] = [
            "ok": true,
            "pid": Int(getpid()),
            "uptime_seconds": Int(Date().timeIntervalSince(started)),
            "events": counters.byKind,
            "violations": Int(counters.violations.load(ordering: .relaxed)),
            "store": ["path": store.path, "rows": (try? store.count()) ?? -1, "failures": Int(counters.storeFailures.load(ordering: .relaxed))],
            "contracts": ["files": snapshot.contracts.files, "generation": Int(snapshot.generation),
                          "contracts": snapshot.contracts.contractCount, "rules": snapshot.contracts.ruleCount],
            "packages": indexSnapshot.packages.count,
            "sboms": sbomsLoaded,
            "events_per_second": counters.rates,
            "watching": watched.map { ["cgroups": $0.paths, "units": $0.units, "cgroup_ids": $0.count] as [String: Any] } ?? "host",
        ]
        if let r = revalidator {
            result["revalidation"] = [
                "digests": r.digests.count, "hashed": Int(r.hashed.load(ordering: .relaxed)),
                "unchanged": Int(r.skippedUnchanged.load(ordering: .relaxed)), "dropped": Int(r.dropped.load(ordering: .relaxed)),
            ]
        }
        if let probes = probesSnapshot {
            result["hooks"] = probes.hookStatus.map { ["program": $0.hook.program, "attach": $0.hook.attachPoint, "state": $0.state.rawValue] }
            var lost: [String: UInt64] = [:]
            for (kind, n) in probes.kernelDrops() { lost[kind.description] = n }
            result["lost"] = lost
        }
        return result
    }

    func violations(_ request: [String: Any]) -> [String: Any] {
        var filter = ViolationStore.Filter()
        if let since = request["since"] {
            guard let seconds = Self.seconds(since) else {
                return Self.error("`since` is a duration (30s, 15m, 1h, 7d), an RFC 3339 time or unix seconds")
            }
            filter.sinceUnixNanoseconds = Int64(seconds * 1e9)
        }
        filter.package = request["package"] as? String
        filter.rule = request["rule"] as? String
        if let severity = request["severity"] as? String {
            guard let s = Severity(rawValue: severity) else { return Self.error("`severity` is low, medium, high or critical") }
            filter.minimumSeverity = s
        }
        filter.limit = min(max((request["limit"] as? Int) ?? 100, 0), 10_000)
        do {
            let rows = try store.query(filter)
            let list: [Any] = rows.map { row in
                var object = ViolationJSON.object(row.violation)
                object["id"] = Int(row.id)
                object["unix_ns"] = row.unixNanoseconds
                return object
            }
            return ["ok": true, "violations": list]
        } catch {
            return Self.error("\(error)")
        }
    }

    /// Unix seconds from `1h`-style durations (ago), RFC 3339 times, or numbers.
    static func seconds(_ value: Any) -> Double? {
        if let n = value as? Double { return n }
        if let n = value as? Int { return Double(n) }
        guard let text = value as? String else { return nil }
        if let n = Double(text) { return n }
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        if let unit = text.last, let factor = units[unit], let amount = Double(text.dropLast()) {
            return Date().timeIntervalSince1970 - amount * factor
        }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date.timeIntervalSince1970 }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)?.timeIntervalSince1970
    }
}
