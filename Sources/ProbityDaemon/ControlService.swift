import Foundation
import Synchronization
import ProbityAttribution
import ProbityContracts
import ProbityEvents
import ProbityMonitor
import ProbitySinks

extension Daemon: ControlService {
    /// The answer to one request (the server's worker threads; `follow` never comes here).
    public func respond(to request: ControlRequest) -> any ControlAnswer {
        switch request {
        case .status: return status()
        case .violations(let query): return violations(query)
        case .events(let query):
            return EventsAnswer(events: recent.encoded(query.limit))
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
            return catalog.load(load.path)
        case .follow:
            return ControlFailure("`follow` is handled by the server")
        }
    }

    var indexSnapshot: PathIndex { catalog.index }

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
            sboms: catalog.sboms,
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
