#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import ProbityContracts
import ProbityProbes

/// Where enforce mode's connect and sendmsg checks are attached: the root of the cgroup v2
/// hierarchy. Every process meets them, in whatever cgroup it is or moves to; they decide by the
/// process's class (`enforce_class`, by tgid), and a process outside the run has none (allowed).
/// A command that leaves its cgroup therefore changes nothing.
enum EnforcementCgroup {
    static func root() -> String? {
        guard let mounts = try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8) else { return nil }
        for line in mounts.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count >= 3, fields[2] == "cgroup2" { return String(fields[1]) }
        }
        return nil
    }
}

/// Enforce mode's user-space half: writes the plan into the kernel maps, keeps each process's
/// class current as execs change its package, and turns DNS answers for allowed (or denied)
/// names into address entries.
final class EnforcementSession: @unchecked Sendable {
    // Safety: `classes` belongs to the pipeline thread; `hostRules` is behind its mutex; the
    // probes' map updates are system calls, safe from any thread.
    let plan: EnforcementPlan
    let probes: KernelProbes
    private var classes: [Int32: UInt32] = [:]
    private let hostRules = Mutex<[String: [(ports: ClosedRange<UInt16>, protocol: UInt8, deny: Bool)]]>([:])
    private let failures = Atomic<Int>(0)

    init(plan: EnforcementPlan, probes: KernelProbes) throws {
        self.plan = plan
        self.probes = probes
        for c in plan.classes where !c.isEmpty {
            try probes.setClassFlags(
                c.number, processMemoryRules: c.processMemoryRules, networkAllowList: c.networkAllowList,
                killMemoryBackedExec: c.killMemoryBackedExec, killUnmonitoredSyscalls: c.killUnmonitoredSyscalls)
            for p in c.paths where p.path.utf8.count < Int(KernelProbes.enforcedPathLimit) {
                try probes.addPathRule(c.number, path: p.path, prefix: p.prefix, kill: p.kill, access: p.access.rawValue, ruleBit: p.ruleBit)
            }
            // Literal exempt executables are taken out of the class by the kernel at their exec;
            // patterns are left to user space (a few milliseconds later).
            for glob in Set(c.exemptExecutables.map(\.pattern)) where !glob.contains(where: { "*?[{".contains($0) }) {
                try probes.addExemptExecutable(c.number, path: glob)
            }
            for o in c.objects {
                try probes.addInodeRule(c.number, device: o.object.device, inode: o.object.inode, access: o.access.rawValue, ruleBit: o.ruleBit)
            }
            // One trie entry per network: its own rules first, then those of the networks that
            // contain it (the trie returns the longest match only).
            var byNetwork: [String: (address: [UInt8], length: Int)] = [:]
            for n in c.network { byNetwork["\(n.address)/\(n.prefixLength)"] = (n.address, n.prefixLength) }
            for (_, network) in byNetwork {
                let rules = Self.rules(for: network.address, length: network.length, in: c.network)
                try probes.setNetworkRule(c.number, address: network.address, prefixLength: network.length, rules: rules)
            }
        }
    }

    /// The rules that apply to `address/length`: entries for exactly it, then for wider networks.
    static func rules(
        for address: [UInt8], length: Int, in entries: [EnforcementPlan.NetworkEntry]
    ) -> [(ports: ClosedRange<UInt16>, protocol: UInt8, deny: Bool)] {
        let containing = entries.filter { e in
            e.address.count == address.count && e.prefixLength <= length
                && AddressRange.masked(address, e.prefixLength) == AddressRange.masked(e.address, e.prefixLength)
        }.sorted { $0.prefixLength > $1.prefixLength }
        return containing.map { ($0.ports, $0.protocol, $0.deny) }
    }

    /// Sets the class of `pid` for its contract and executable (pipeline thread).
    /// `mayBeExempt` false: the process runs code besides its executable's (LD_PRELOAD, ...), so
    /// its executable's exemption does not apply (the kernel keeps it in the class too).
    func classify(pid: Int32, contract: Int?, executable: String, mayBeExempt: Bool = true) {
        let number = plan.enforcementClass(contract: contract, executable: mayBeExempt ? executable : "")
        guard classes[pid] != number else { return }
        classes[pid] = number
        do { try probes.setEnforcementClass(pid: pid, number) } catch { failures.add(1, ordering: .relaxed) }
    }

    /// A child starts in its parent's class. The kernel copies the class at fork; this covers a
    /// fork that came before user space had classified the parent's exec.
    func inherit(child: Int32, parent: Int32) {
        guard let number = classes[parent], classes[child] != number else { return }
        classes[child] = number
        do { try probes.setEnforcementClass(pid: child, number) } catch { failures.add(1, ordering: .relaxed) }
    }

    func forget(pid: Int32) { classes[pid] = nil }

    /// Addresses of names that host entries allow or deny, from a DNS answer (DNS thread).
    func dnsAnswers(_ answers: DNSAnswerSet) {
        for answer in answers.answers {
            guard let range = AddressRange(answer.address) else { continue }
            for c in plan.classes where !c.hosts.isEmpty {
                let matching = c.hosts.filter { $0.pattern.matches(answer.name) }
                if matching.isEmpty { continue }
                let key = "\(c.number) \(answer.address)"
                let rules = hostRules.withLock { table -> [(ports: ClosedRange<UInt16>, protocol: UInt8, deny: Bool)] in
                    var rules = table[key] ?? []
                    for host in matching {
                        for ports in host.ports where !rules.contains(where: { $0.ports == ports && $0.protocol == host.protocol && $0.deny == host.deny }) {
                            rules.append((ports, host.protocol, host.deny))
                        }
                    }
                    table[key] = rules
                    return rules
                }
                let wider = Self.rules(for: range.network, length: range.network.count * 8, in: c.network)
                do {
                    try probes.setNetworkRule(c.number, address: range.network, prefixLength: range.network.count * 8, rules: rules + wider)
                } catch {
                    failures.add(1, ordering: .relaxed)
                }
            }
        }
    }

    /// Map updates that failed (reported at the end of the run).
    var failureCount: Int { failures.load(ordering: .relaxed) }
}
