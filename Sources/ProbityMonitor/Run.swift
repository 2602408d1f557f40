#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import ProbityAttribution
import ProbityContracts
import ProbityEvents
import ProbityProbes
import ProbityProcess
import ProbitySinks

/// What `probity run` does: run a command under the probes, hold every package in its tree to its
/// contract, and report.
public struct RunOptions: Sendable {
    /// Policy files; empty means the built-in policies/default.yaml. `builtin` names it among others.
    public var policies: [String] = []
    /// Judge by `policies` alone: the policies their `base:` lists name (the built-in contracts a
    /// learnt file extends) are not added.
    public var replaceBuiltin = false
    /// Approved sets (`probity approve`): in each tree, a file that is executed or loaded must be
    /// listed and match its digest (`integrity/unlisted`, `integrity/hash-mismatch`).
    public var approved: [String] = []
    /// SBOMs whose file paths also attribute events.
    public var sboms: [String] = []
    public var sbomRoot = "/"
    /// An earlier SBOM: packages absent from it are `new`, with another version `changed`.
    public var baselineSBOM: String?
    /// Where the reports go.
    public var reportDirectory = "probity-report"
    /// Carry out `kill` and `deny` actions (not available yet: refused).
    public var enforce = false
    /// Lost events do not fail the gate.
    public var allowLoss = false
    /// The least severity that fails the gate.
    public var failOn: Severity = .low
    public var command: [String] = []
    public var ringBufferBytes = 16 << 20
    /// Print hooks, counts and loss figures to standard error.
    public var verbose = true
    /// Print each new violation to standard error as it is found (`run -q` keeps them).
    public var printViolations = true
    /// `probity learn`: write a contract file under which this run passes, here, instead of gating.
    public var learnOutput: String?
    /// Where the DNS resolvers are read from: `{resolvers}` in contracts, and the only servers
    /// whose answers are believed.
    public var resolvConf = "/etc/resolv.conf"
    /// Run the command as this user (a name or a uid); nil: the user who invoked sudo
    /// (`SUDO_UID`), else the current user.
    public var user: String?
    /// For tests: entries of the kernel's followed-process maps (nil: 65,536).
    public var maxTracked: UInt32?
    /// `$GITHUB_STEP_SUMMARY`, when set.
    public var stepSummary: String? = ProcessInfo.processInfo.environment["GITHUB_STEP_SUMMARY"]

    public init() {}
}

/// Exit statuses of `probity run` (docs/contracts.md). Otherwise it exits with the command's own.
public enum RunStatus {
    /// A contract was violated (at or above `--fail-on`).
    public static let violations: Int32 = 86
    /// Events were lost and `--allow-loss` was not given.
    public static let lostEvents: Int32 = 87
    /// A process of the tree was neither followed nor enforced: a kernel map was full.
    public static let unwatchedProcesses: Int32 = 88
    /// Probity could not do its job (bad policy, probes refused, report not written).
    public static let failure: Int32 = 2
}

/// Errors of `probity run` before or after the command runs.
public struct RunError: Error, CustomStringConvertible {
    public var description: String
}

/// Runs `probity run`; returns the exit status for the process.
public enum Run {
    public static func run(_ options: RunOptions) throws -> Int32 {
        guard !options.command.isEmpty else { throw RunError(description: "no command: probity run [options] -- CMD ARGS") }
        let user: CommandUser
        do { user = try CommandUser.resolve(user: options.user) } catch { throw RunError(description: error.description) }
        let environment = user.environment()
        // Fork the command before any thread exists; it waits at the gate, and drops its
        // privileges (and becomes `user`) when it is let through.
        let child = try GatedChild(command: options.command, user: user, environment: user.changesUser ? environment : nil)
        let prepared: Prepared
        let monitor: Monitor
        var enforcement: EnforcementSession?
        var socketChecks = "-"
        do {
            prepared = try prepare(options, environment: environment)
            var monitorOptions = MonitorOptions()
            monitorOptions.probes.ringBufferBytes = options.ringBufferBytes
            monitorOptions.probes.followPIDs = [child.pid]
            monitorOptions.probes.maxTracked = options.maxTracked
            monitorOptions.attributionIndex = prepared.index
            monitorOptions.workspace = WorkspaceRoot(pid: child.pid, command: options.command)
            if options.enforce {
                // The connect and sendmsg checks go on the root of the cgroup hierarchy, so every
                // process of the host meets them wherever it moves; they decide by the process's
                // class, and processes outside the run have none (allowed).
                guard let root = EnforcementCgroup.root() else {
                    throw RunError(description: "--mode enforce needs a cgroup v2 hierarchy (none is mounted)")
                }
                socketChecks = root
                monitorOptions.probes.enforcementCgroup = root
            }
            monitor = try Monitor(options: monitorOptions)
            if options.enforce {
                let plan = EnforcementPlan(prepared.contracts)
                let session = try EnforcementSession(plan: plan, probes: monitor.probes)
                // The command is the workspace until package code takes over.
                var evaluator = Evaluator(contracts: prepared.contracts)
                let workspace = Attribution.workspace(evidence: "probity run")
                session.classify(pid: child.pid, contract: evaluator.contractIndex(for: workspace), executable: "")
                enforcement = session
                if options.verbose {
                    let paths = plan.classes.reduce(0) { $0 + $1.paths.count }
                    let nets = plan.classes.reduce(0) { $0 + $1.network.count + $1.hosts.count }
                    printError("probity: enforce mode: \(paths) path entries, \(nets) network entries in the kernel; socket checks on cgroup \(socketChecks) (by process class)\n")
                }
            }
        } catch {
            child.abandon()
            throw error
        }
        if options.verbose {
            printError("probity: the command runs as \(user)\(user.source == .current ? "" : " (\(user.source.rawValue))"), without capabilities, with no_new_privs\n")
        }
        if user.isRoot { printError("probity: WARNING: \(Self.rootWarning)\n") }
        if options.verbose {
            Trace.report(hooks: monitor.probes.hookStatus)
            printError("probity: \(prepared.contracts.contractCount) contracts, \(prepared.contracts.ruleCount) rules from \(prepared.contracts.files.joined(separator: ", "))\n")
            let servers = prepared.resolvers.nameservers.map(\.description).joined(separator: ", ")
            printError("probity: DNS resolvers \(servers) from \(options.resolvConf)\(prepared.resolvers.isDefault ? " (none configured: glibc's default)" : "")\n")
        }
        for problem in prepared.resolvers.problems { printError("probity: \(options.resolvConf): \(problem)\n") }

        // DNS answers seen on the host name the addresses that network rules' `host` entries match.
        let dns: DNSObserver?
        do {
            dns = try DNSObserver(servers: prepared.resolvers.serverAddresses)
            if let enforcement { dns?.onAnswers { enforcement.dnsAnswers($0) } }
            dns?.start()
            let cache = NameServiceCache.invalidateHosts()
            if options.verbose && cache != .absent || cache.isFailure { printError("probity: \(cache)\n") }
        } catch {
            dns = nil
            printError("probity: DNS answers cannot be observed (\(error)): `host` entries match nothing\n")
        }
        defer { dns?.stop() }

        let startTime = WallClock.bootTimeNow()
        var clock = WallClock()
        var evaluator = Evaluator(contracts: prepared.contracts, baseline: prepared.baseline)
        if let dns {
            // A connect can reach the pipeline before the DNS thread has read the answer that named
            // its address: when no name is known yet, let the DNS thread catch up once, then judge.
            evaluator.hostnames = { dns.namesCatchingUp(for: $0.address) }
        }
        let state = RunState(
            evaluator: evaluator, eventsFD: prepared.eventsFD, rootPID: child.pid, printViolations: options.printViolations, enforcement: enforcement)
        state.verifier = prepared.verifier
        prepared.verifier?.start()
        monitor.start { event, context in
            state.handle(event, context: context, monitor: monitor)
        }
        child.release()
        let status = GatedChild.exitCode(fromWaitStatus: child.wait())
        // Let the command's last events (its exit) come through, bounded.
        let deadline = WallClock.bootTimeNow() + 2_000_000_000
        while !state.rootExited.load(ordering: .acquiring) && WallClock.bootTimeNow() < deadline { usleep(2000) }
        usleep(20_000)
        monitor.stop()
        let stats = monitor.statistics
        let table = monitor.processTable
        monitor.close()
        // Every file the command executed or loaded has been checked before the verdict.
        prepared.verifier?.waitUntilIdle()
        prepared.verifier?.stop()
        state.finish(table: table)
        for finding in prepared.findings.all {
            state.recordIntegrity(finding, owner: prepared.index.owner(of: finding.path)?.package, contracts: prepared.contracts)
        }
        state.events.flush()
        close(prepared.eventsFD)

        var counts: [String: UInt64] = [:]
        for (kind, n) in stats.delivered { counts[kind.description] = n }
        let violations = state.log.violations
        let failing = violations.filter { $0.severity >= options.failOn }
        var failures: [String] = []
        if !failing.isEmpty {
            let n = failing.reduce(0) { $0 + $1.count }
            failures.append("\(English.count(n, "contract violation")) at or above \(options.failOn.rawValue) severity")
        }
        if state.unexplainedKills > 0 {
            failures.append("\(state.unexplainedKills) kernel kills without a matching violation")
        }
        if let enforcement, enforcement.failureCount > 0 {
            failures.append("\(enforcement.failureCount) enforcement map updates failed: enforcement was incomplete")
        }
        let unwatched = stats.unfollowedProcesses + (options.enforce ? stats.unenforcedProcesses : 0)
        if stats.unfollowedProcesses > 0 {
            failures.append("\(stats.unfollowedProcesses) processes not followed (the kernel's followed-process map was full): not every process was watched")
        }
        if options.enforce && stats.unenforcedProcesses > 0 {
            failures.append("\(stats.unenforcedProcesses) processes not enforced (the kernel's class map was full): not every process was watched")
        }
        if stats.lostTotal > 0 && !options.allowLoss {
            failures.append("\(stats.lostTotal) events lost: the run was not fully observed (--allow-loss to accept)")
        }
        var report = RunReport(
            command: options.command, commandStatus: status, mode: options.enforce ? "enforce" : "audit",
            startTime: clock.rfc3339(boot: startTime),
            durationSeconds: Double(WallClock.bootTimeNow() - startTime) / 1e9, policyFiles: prepared.contracts.files,
            eventCounts: counts, lostEvents: stats.lostTotal, violations: violations, failures: failures)
        report.commandUser = RunReport.User(uid: user.uid, gid: user.gid, name: user.name, source: user.source.rawValue)
        report.unwatchedProcesses = unwatched
        report.sourceRoot = ManifestLocator.repositoryRoot(containing: FileManager.default.currentDirectoryPath)
        for v in violations {
            report.ruleDescriptions["\(v.contract)/\(v.rule)"] = prepared.contracts.description(ofRule: v.rule, inContract: v.contract)
        }
        try ReportWriter.write(report, to: options.reportDirectory)
        if let output = options.learnOutput {
            return try learn(violations, options: options, contracts: prepared.contracts, output: output, status: status, lost: stats.lostTotal)
        }
        if let summary = options.stepSummary, !summary.isEmpty {
            do { try ReportWriter.appendSummary(report, to: summary) } catch { printError("probity: \(error)\n") }
        }
        if options.verbose || stats.lostTotal > 0 { printError("probity: \(stats)\n") }
        if options.verbose, let dns { printError("probity: \(dns.counters)\n") }
        let total = violations.reduce(0) { $0 + $1.count }
        printError("probity: \(English.count(total, "violation")) (\(violations.count) distinct); reports in \(options.reportDirectory)/\n")
        for failure in failures { printError("probity: FAILED: \(failure)\n") }
        if user.isRoot { printError("probity: WARNING: \(Self.rootWarning)\n") }
        if !failing.isEmpty { return RunStatus.violations }
        if unwatched > 0 { return RunStatus.unwatchedProcesses }
        if stats.lostTotal > 0 && !options.allowLoss { return RunStatus.lostEvents }
        return status
    }

    /// Writes the learnt contracts and checks that they load in front of the ones they extend.
    static func learn(
        _ violations: [Violation], options: RunOptions, contracts: ContractSet, output: String, status: Int32, lost: UInt64
    ) throws -> Int32 {
        var learner = ContractLearner(variables: contracts.variables)
        for v in violations { learner.learn(from: v) }
        // The learnt contracts extend those the run judged by: named as the file's `base`
        // (absolute paths), they come with it unless `--replace-builtin` says otherwise.
        let policies = (options.policies.isEmpty ? ["builtin"] : options.policies).map { file in
            file == "builtin" || file.hasPrefix("/") ? file : FileManager.default.currentDirectoryPath + "/" + file
        }
        let header = """
            Learnt by `probity learn` from: \(RunReport.shellQuoted(SecretRedaction.redact(options.command)))
            It extends the contracts listed under `base`, which come with it:
              probity run --policy \(output) -- CMD
            """
        let text = learner.yaml(header: header, base: policies)
        do {
            let learnt = try PolicyLoader.parse(text, file: output)
            _ = try ContractSet(documents: [learnt] + PolicyLoader.documents(policies), variables: contracts.variables)
        } catch {
            throw RunError(description: "the learnt contracts do not load (a bug; nothing written): \(error)")
        }
        do {
            try text.write(toFile: output, atomically: true, encoding: .utf8)
        } catch {
            throw RunError(description: "\(output): cannot write: \(error.localizedDescription)")
        }
        printError("probity: learnt contracts for \(English.count(learner.packageCount, "package")) (\(English.count(violations.count, "finding"))) written to \(output); reports in \(options.reportDirectory)/\n")
        if lost > 0 { printError("probity: \(lost) events were lost: the learnt contracts may miss something\n") }
        return status
    }

    /// Said on the console, in violations.json and summary.md when the command ran as uid 0.
    public static let rootWarning = RunReport.rootWarning

    struct Prepared {
        var contracts: ContractSet
        var resolvers: ResolverConfiguration
        var baseline: Baseline?
        var index: PathIndex
        var eventsFD: Int32
        /// Checks executed and loaded files against the approved sets (nil without `--approved`).
        var verifier: Revalidator?
        var findings: IntegrityFindings
    }

    /// `environment` is the command's: `{home}` is its user's home.
    static func prepare(_ options: RunOptions, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Prepared {
        let resolvers = ResolverConfiguration.load(options.resolvConf)
        let contracts = try loadContracts(
            options.policies, followingBase: !options.replaceBuiltin, variables: .fromEnvironment(environment, resolvers: resolvers))
        // Contracts without a rule judge nothing: the run could not fail, so it must not pass.
        guard contracts.ruleCount > 0 else {
            throw RunError(description: """
                \(contracts.files.joined(separator: ", ")): \(contracts.contractCount == 1 ? "the contract holds" : "the \(contracts.contractCount) contracts hold") \
                no rule: nothing would be judged, and the run would pass whatever the command did \
                (add `--policy builtin`, or rules)
                """)
        }
        var baseline: Baseline?
        if let path = options.baselineSBOM {
            baseline = Baseline(try SBOMReader.read(contentsOf: path))
        }
        let index = try AttributionSetup.index(sboms: options.sboms, root: options.sbomRoot, verbose: options.verbose)
        do {
            try FileManager.default.createDirectory(atPath: options.reportDirectory, withIntermediateDirectories: true)
        } catch {
            throw RunError(description: "\(options.reportDirectory): cannot create the report directory: \(error.localizedDescription)")
        }
        let path = options.reportDirectory + "/events.jsonl"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw RunError(description: "\(path): cannot create: \(String(cString: strerror(errno)))") }
        let findings = IntegrityFindings()
        var verifier: Revalidator?
        if !options.approved.isEmpty {
            var digests = DigestIndex()
            var roots: [String] = []
            for file in options.approved {
                let set: ApprovedSet
                do { set = try ApprovedSet.load(file) } catch { throw RunError(description: "\(error)") }
                set.add(to: &digests)
                roots.append(set.root)
            }
            digests.addObjects()
            verifier = Revalidator(digests: digests, scopes: roots) { findings.add($0) }
        }
        return Prepared(contracts: contracts, resolvers: resolvers, baseline: baseline, index: index, eventsFD: fd,
                        verifier: verifier, findings: findings)
    }

    /// The policy files named (`builtin` for the built-in one) and, `followingBase`, the
    /// policies they name as their `base`; or the built-in one alone.
    public static func loadContracts(
        _ files: [String], followingBase: Bool = true, variables: ContractVariables = .fromEnvironment()
    ) throws(ContractError) -> ContractSet {
        try ContractSet(documents: try PolicyLoader.documents(files, followingBase: followingBase), variables: variables)
    }
}

/// What the pipeline thread keeps during a run. Owned by that thread until the monitor stops.
final class RunState: @unchecked Sendable {
    var evaluator: Evaluator
    var log = ViolationLog()
    let events: EventJSONEncoder
    let rootPID: Int32
    let printViolations: Bool
    let rootExited = Atomic<Bool>(false)
    /// Processes of the tree that have not exited, with their parent at fork.
    private var alive: [Int32: Int32] = [:]
    private var attributions: [Int32: Attribution] = [:]

    let enforcement: EnforcementSession?
    /// Checks executed and loaded files against the approved sets, on its own thread.
    var verifier: Revalidator?
    /// The chain and the attribution of each process that executed or loaded a file the verifier
    /// checks, as they were then.
    private var verifiedProcesses: [Int32: (chain: [ProcessLink], attribution: Attribution?)] = [:]

    init(evaluator: Evaluator, eventsFD: Int32, rootPID: Int32, printViolations: Bool, enforcement: EnforcementSession?) {
        self.evaluator = evaluator
        self.enforcement = enforcement
        events = EventJSONEncoder(fd: eventsFD)
        self.rootPID = rootPID
        self.printViolations = printViolations
        alive[rootPID] = getpid()
    }

    func handle(_ event: Event, context: EventContext, monitor: Monitor) {
        events.write(event, process: context.process, attribution: context.attribution)
        switch event {
        case .fork(let fork):
            alive[fork.childPID] = fork.header.pid
            if let a = context.attribution { attributions[fork.childPID] = a }
            enforcement?.inherit(child: fork.childPID, parent: fork.header.pid)
        case .exit(let exit):
            alive[exit.header.pid] = nil
            attributions[exit.header.pid] = nil
            enforcement?.forget(pid: exit.header.pid)
            if exit.header.pid == rootPID { rootExited.store(true, ordering: .releasing) }
        case .exec(let exec):
            if let a = context.attribution { attributions[event.pid] = a }
            if let enforcement, exec.succeeded {
                // A program the loader adds code to is not the program its name says: no exemption.
                let ownCode = context.process.map(Evaluator.runsItsOwnCode) ?? false
                enforcement.classify(
                    pid: exec.header.pid, contract: evaluator.contractIndex(for: context.attribution), executable: exec.executable,
                    mayBeExempt: ownCode)
            }
        default:
            break
        }
        if let verifier { verify(event, context: context, verifier: verifier, monitor: monitor) }
        let found = evaluator.evaluate(
            event, process: context.process, attribution: context.attribution, caller: context.caller
        ) { pid in
            self.chain(monitor.processTable.lineage(of: pid))
        }
        for violation in found { record(enforce(violation, event: event)) }
        if found.isEmpty && event.header.flags.contains(.killed) {
            unexplainedKills += 1
            printError("probity: the kernel killed pid \(event.pid) for \(event.kind) but no rule explains it (please report)\n")
        }
    }

    /// Executed files and loaded code go to the verifier (which hashes them on its own thread).
    private func verify(_ event: Event, context: EventContext, verifier: Revalidator, monitor: Monitor) {
        var paths: [String] = []
        switch event {
        case .exec(let exec) where exec.succeeded:
            paths = exec.filename.hasPrefix("/") && exec.filename != exec.executable ? [exec.executable, exec.filename] : [exec.executable]
        case .open(let open) where open.result >= 0 && open.flags.reads && Revalidator.isLoadedCode(open.path):
            paths = [open.path]
        default:
            return
        }
        let checked = paths.filter(verifier.wouldCheck)
        guard !checked.isEmpty else { return }
        if verifiedProcesses.count > 65_536 { verifiedProcesses.removeAll() }
        verifiedProcesses[event.pid] = (chain(monitor.processTable.lineage(of: event.pid)).map(ProcessLink.init), context.attribution)
        for path in checked { verifier.consider(path, pid: event.pid, executable: context.process?.executable ?? "") }
    }

    /// An integrity finding of the verifier, as a violation of the `integrity:` rule of the contract
    /// governing the process that executed or loaded the file; nothing when no rule denies it.
    func recordIntegrity(_ finding: Revalidator.Finding, owner: InstalledPackage?, contracts: ContractSet) {
        let process = verifiedProcesses[finding.pid]
        guard let (rule, contract) = contracts.integrityRule(
            finding.rule, attribution: process?.attribution, path: finding.path, executable: finding.executable) else { return }
        record(IntegrityViolation.make(finding, rule: rule, contract: contract, owner: owner, processes: process?.chain ?? []))
    }

    /// Kernel kills user space found no violation for (kept at zero by the tests).
    var unexplainedKills = 0

    /// In enforce mode, whether the kernel carried out the rule's action; a `kill` it could not
    /// (a pattern it cannot match, an allow list) is carried out now, late, from user space.
    private func enforce(_ violation: Violation, event: Event) -> Violation {
        guard enforcement != nil, violation.action != .alert else { return violation }
        var v = violation
        var byKernel = false
        switch event {
        case .open, .exec, .memory, .abi: byKernel = event.header.flags.contains(.killed)
        case .connect(let c) where c.syscall == .ioUringConnect:
            // Reported at submission; the connect itself meets the same cgroup programs later.
            byKernel = violation.action == .deny
        case .connect(let c): byKernel = c.result == -Int64(EPERM) && violation.action == .deny
        default: break
        }
        if byKernel {
            v.enforced = true
            v.enforcement = "kernel"
        } else if violation.action == .kill, event.pid != rootPID, kill(event.pid, SIGKILL) == 0 {
            v.enforced = true
            v.enforcement = "user-space"
        }
        if v.enforced { v.message += v.action == .kill ? " (killed)" : " (denied)" }
        return v
    }

    /// A lineage cut at the monitored command: what lies above it is Probity and its callers.
    func chain(_ lineage: [TrackedProcess]) -> [TrackedProcess] {
        guard let root = lineage.firstIndex(where: { $0.pid == rootPID }) else { return lineage }
        return Array(lineage[...root])
    }

    private func record(_ violation: Violation) {
        if log.add(violation) && printViolations {
            let safe: (String) -> String = TerminalText.safe
            printError("probity: VIOLATION \(violation.severity.rawValue) \(safe(violation.package?.displayName ?? "unattributed")) \(safe(violation.contract))/\(safe(violation.rule)): \(safe(violation.message))\n")
        }
    }

    /// Daemonized: it is in another session than the command's (setsid, in it or an ancestor) and
    /// its parent is no longer the one that forked it (reparented to init or a subreaper), from
    /// /proc/PID/stat. The command runs in Probity's own session.
    static func hasDetached(_ pid: Int32, parentAtFork: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the name: state, ppid, pgrp, session.
        guard fields.count > 3, let ppid = Int32(fields[1]), let session = Int32(fields[3]) else { return false }
        return session != getsid(0) && ppid != parentAtFork
    }

    /// Processes of the tree still running once the command is over.
    func finish(table: ProcessTable) {
        let survivors = alive.keys.sorted().compactMap { pid -> TrackedProcess? in
            guard pid != rootPID, kill(pid, 0) == 0 || errno == EPERM else { return nil }
            return table[pid] ?? TrackedProcess(pid: pid, ppid: alive[pid] ?? 0)
        }
        let found = evaluator.finish(
            survivors: survivors, attribution: { self.attributions[$0] }, lineage: { self.chain(table.lineage(of: $0)) },
            daemonized: { Self.hasDetached($0.pid, parentAtFork: self.alive[$0.pid] ?? 0) })
        for violation in found { record(violation) }
        // Python start-up hooks written during the run, now that every RECORD has been written.
        for violation in evaluator.settlePythonStartupWrites() { record(violation) }
    }
}

/// The verifier's findings, gathered from its thread for the report.
final class IntegrityFindings: Sendable {
    private let list = Mutex<[Revalidator.Finding]>([])
    func add(_ finding: Revalidator.Finding) { list.withLock { $0.append(finding) } }
    var all: [Revalidator.Finding] { list.withLock { $0 } }
}
