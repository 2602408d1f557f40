#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import ProbityAttribution
import ProbityContracts
import ProbityEvents
import ProbityMonitor
import ProbityProbes
import ProbitySinks

/// Command-line settings of `probityd`; each overrides the configuration file.
public struct DaemonOptions: Sendable {
    public var configurationPath: String?
    public var socketPath: String?
    public var stateDirectory: String?
    public var environment = ProcessInfo.processInfo.environment

    public init() {}
}

/// `probityd`: the whole host under the probes, every event attributed and judged, violations
/// stored (before anyone hears of them) and published on the control socket.
public final class Daemon: @unchecked Sendable {
    // Safety: the pipeline thread owns `evaluator`, `recentRepeat` and the handler's state; the
    // control thread reads only atomics, mutex-guarded state and thread-safe objects.
    let configuration: DaemonConfiguration
    let contracts: ContractStore
    let store: ViolationStore
    let notifier: ServiceNotifier
    private var monitor: Monitor?
    private var server: ControlServer?
    private var dns: DNSObserver?
    /// The DNS servers of /etc/resolv.conf at start: `{resolvers}`, and the only servers whose
    /// answers are believed.
    let resolvers: ResolverConfiguration
    private let indexState: Mutex<PathIndex>
    var indexValue: PathIndex { indexState.withLock { $0 } }
    /// SBOMs added with `load-sbom` since start.
    private let loadedSBOMs = Mutex<[String]>([])
    /// Held while the index is rebuilt (`load-sbom`, reload), so that one does not undo the other.
    private let sbomUpdate = Mutex<Void>(())
    var probesSnapshot: KernelProbes? { monitor?.probes }
    let started = Date()
    let counters = DaemonCounters()
    let recent: RecentEvents
    let metrics = DaemonMetrics()
    private var export: RotatingJSONLines?
    private let journal: JournalWriter?
    private var metricsServer: MetricsHTTPServer?
    private(set) var revalidator: Revalidator?
    private let recordLock = NSLock()
    private let journalLogging: Bool
    /// When only some cgroups are watched.
    let watched: WatchedCgroups?
    private var clock = WallClock()

    /// The exit status after SIGTERM: 0 when everything drained.
    public static func run(_ options: DaemonOptions) throws -> Int32 {
        var configuration = try DaemonConfiguration.load(path: options.configurationPath)
        if let socket = options.socketPath { configuration.socket = socket }
        if let state = options.stateDirectory { configuration.stateDirectory = state }
        let daemon = try Daemon(configuration: configuration, environment: options.environment)
        return try daemon.serve()
    }

    init(configuration: DaemonConfiguration, environment: [String: String]) throws {
        self.configuration = configuration
        notifier = ServiceNotifier(environment: environment)
        journalLogging = environment["JOURNAL_STREAM"] != nil
        watched = WatchedCgroups(cgroups: configuration.cgroups, units: configuration.units)
        if (!configuration.cgroups.isEmpty || !configuration.units.isEmpty) && watched == nil {
            throw DaemonError(operation: "watch cgroups \(configuration.cgroups + configuration.units) (no cgroup v2 hierarchy is mounted)", errno: ENOENT)
        }
        // The state directory is created (with its parents); the socket's directory only when it
        // is the default one (/run/probity): another must exist, so that a mistyped --socket is
        // an error, not a new directory.
        try Self.makeDirectory(configuration.stateDirectory, parents: true, what: "the state directory")
        let socketDirectory = (configuration.socket as NSString).deletingLastPathComponent
        let defaultSocketDirectory = (DaemonConfiguration().socket as NSString).deletingLastPathComponent
        try Self.makeDirectory(
            socketDirectory.isEmpty ? "." : socketDirectory, parents: socketDirectory == defaultSocketDirectory,
            create: socketDirectory == defaultSocketDirectory, what: "the socket's directory")
        resolvers = ResolverConfiguration.load()
        contracts = try ContractStore(files: configuration.policies, variables: .fromEnvironment(resolvers: resolvers))
        store = try ViolationStore(path: configuration.stateDirectory + "/violations.sqlite", retention: configuration.storeRetention)
        let index = try AttributionSetup.index(sboms: configuration.sboms, root: configuration.sbomRoot, verbose: false, discovery: configuration.discovery)
        indexState = Mutex(index)
        recent = RecentEvents(capacity: configuration.recentEvents)
        if !configuration.exportFile.isEmpty {
            let file = configuration.exportFile.hasPrefix("/") ? configuration.exportFile : configuration.stateDirectory + "/" + configuration.exportFile
            export = try RotatingJSONLines(path: file, maximumBytes: configuration.exportMaxBytes, keep: configuration.exportKeep)
        }
        journal = JournalWriter(socketPath: configuration.journalSocket)
        var digests = DigestIndex.discover(sitePackages: PackageDiscovery.sitePackages(configuration.discovery))
        for sbom in configuration.sboms {
            if let document = try? SBOMReader.read(contentsOf: sbom) { digests.addSBOM(document, root: configuration.sbomRoot) }
        }
        revalidator = Revalidator(digests: digests) { [weak self] finding in self?.recordIntegrity(finding) }
    }

    /// Makes sure `path` is a directory: creates it (and, with `parents`, its missing parents)
    /// when `create`, and throws the real reason (errno) naming the path otherwise.
    static func makeDirectory(_ path: String, parents: Bool, create: Bool = true, what: String) throws(DaemonError) {
        var st = stat()
        if stat(path, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFDIR else { throw DaemonError(operation: "use \(path) as \(what)", errno: ENOTDIR) }
            return
        }
        let err = errno
        guard create, err == ENOENT else { throw DaemonError(operation: "use \(path) as \(what)", errno: err) }
        if parents {
            let parent = (path as NSString).deletingLastPathComponent
            if !parent.isEmpty && parent != path && parent != "/" { try makeDirectory(parent, parents: true, what: what) }
        }
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
            throw DaemonError(operation: "create \(path) (\(what))", errno: errno)
        }
    }

    /// Where `load-sbom` may read from, and how much.
    var sbomGate: SBOMFileGate { SBOMFileGate(directories: configuration.sbomDirectories, maximumBytes: configuration.sbomMaxBytes) }

    /// Adds an SBOM's file paths to attribution while running (`load-sbom`, on the control
    /// server's worker thread): the file is read through ``SBOMFileGate``, the new index is built
    /// beside the old one and swapped in whole. Returns the answer.
    func loadSBOM(_ path: String) -> any ControlAnswer {
        let document: SBOMDocument
        do {
            let data = try sbomGate.read(path)
            document = try SBOMReader.read(data: data, source: path)
        } catch {
            log("load-sbom refused: \(error)", priority: 4)
            return ControlFailure("\(error)")
        }
        let paths = sbomUpdate.withLock { _ -> Int in
            var index = indexValue
            let paths = SBOMIndexing.add(document, to: &index, root: configuration.sbomRoot)
            indexState.withLock { $0 = index }
            monitor?.replaceAttributionIndex(index)
            loadedSBOMs.withLock { if !$0.contains(path) { $0.append(path) } }
            return paths
        }
        log("loaded SBOM \(path): \(document.components.count) components, \(paths) paths")
        return SBOMLoadedAnswer(format: document.format.rawValue, components: document.components.count, paths: paths,
                                problems: document.problems.map(\.description))
    }

    var sbomsLoaded: [String] { configuration.sboms + loadedSBOMs.withLock { $0 } }

    /// An integrity finding as a violation of the built-in `integrity` contract.
    func recordIntegrity(_ finding: Revalidator.Finding) {
        let owner = indexValue.owner(of: finding.path)?.package
        var evidence = Evidence(operation: finding.rule == "new-pth" ? "open" : "load")
        evidence.path = finding.path
        let boot = WallClock.bootTimeNow()
        var clock = WallClock()
        let violation = Violation(
            time: clock.rfc3339(boot: boot), bootTimeNanoseconds: boot, contract: "integrity", rule: finding.rule,
            category: "integrity", severity: .critical, action: .alert, enforced: false, enforcement: nil,
            message: finding.message, package: owner.map(PackageReference.init),
            attribution: AttributionReference(reason: "owner", evidence: finding.path),
            processes: [ProcessLink(pid: finding.pid, executable: finding.executable, argv: [])], evidence: evidence,
            ruleLocation: "(built-in) integrity", count: 1, uid: finding.uid)
        record(violation)
    }

    /// A log line: to journald with structured fields when systemd started us with the journal
    /// as standard error ($JOURNAL_STREAM), else to standard error. Paths and names it quotes
    /// come from the code under watch: every control character is rendered visibly, so that one
    /// entry stays one line and drives no terminal reading the log.
    func log(_ text: String, priority: Int = 6) {
        let text = TerminalText.safe(text)
        if journalLogging, let journal, journal.send([
            ("MESSAGE", text), ("PRIORITY", "\(priority)"), ("SYSLOG_IDENTIFIER", "probityd"), ("PROBITY_COMPONENT", "daemon"),
        ]) { return }
        var line = "probityd: \(text)\n"
        line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    }

    func serve() throws -> Int32 {
        DaemonSignals.install()
        var monitorOptions = MonitorOptions()
        monitorOptions.probes.ringBufferBytes = configuration.ringBufferMiB << 20
        let index = indexValue
        monitorOptions.attributionIndex = index
        let monitor = try Monitor(options: monitorOptions)
        self.monitor = monitor
        let attached = monitor.probes.hookStatus.filter { $0.state == .attached }.count
        log("\(attached)/\(monitor.probes.hookStatus.count) hooks attached; \(index.packages.count) packages, \(index.fileCount) files indexed")
        for hook in monitor.probes.hookStatus where hook.state != .attached { log("  \(hook)") }

        let dns: DNSObserver? = try? DNSObserver(servers: resolvers.serverAddresses)
        dns?.start()
        if dns != nil {
            log("DNS resolvers: \(resolvers.nameservers.map(\.description).joined(separator: ", "))\(resolvers.isDefault ? " (none configured: glibc's default)" : ""); answers believed only from them, to queries seen")
            for problem in resolvers.problems { log("/etc/resolv.conf: \(problem)", priority: 4) }
            let cache = NameServiceCache.invalidateHosts()
            if cache != .absent { log("\(cache)") }
        }
        self.dns = dns
        var limits = ControlServer.Limits()
        limits.idleTimeout = .milliseconds(Int64(configuration.controlIdleSeconds * 1000))
        limits.maximumConnections = configuration.controlConnections
        let server = ControlServer(path: configuration.socket, group: configuration.socketGroup, service: self, limits: limits)
        self.server = server

        var evaluator = Evaluator(contracts: contracts.snapshot.contracts)
        // As `probity run` does: a connect with no name yet waits once for the DNS thread.
        if let dns { evaluator.hostnames = { dns.namesCatchingUp(for: $0.address) } }
        let pipeline = PipelineState(daemon: self, evaluator: evaluator)
        monitor.start { event, context in pipeline.handle(event, context: context, monitor: monitor) }
        try server.start()
        revalidator?.start()
        if !configuration.metricsAddress.isEmpty {
            let http = try MetricsHTTPServer(address: configuration.metricsAddress) { [self] in
                metrics.text(probes: monitor.probes, storeRows: (try? store.count()) ?? 0)
            }
            http.start()
            metricsServer = http
        }
        let snapshot = contracts.snapshot
        log("listening on \(configuration.socket); \(snapshot.contracts.contractCount) contracts from \(snapshot.contracts.files.joined(separator: ", ")); store \(store.path)")
        notifier.notify("READY=1\nSTATUS=watching \(attached) hooks\nMAINPID=\(getpid())")

        var lastStatus = Date.distantPast
        var lastWatchdog = Date.distantPast
        var lastPrune = Date.distantPast
        var lastCgroupRefresh = Date()
        let watchdogInterval = notifier.watchdogMicroseconds.map { Double($0) / 2e6 }
        while !DaemonSignals.stopRequested {
            usleep(50_000)
            let now = Date()
            if DaemonSignals.takeReload() { _ = reloadContracts() }
            if let interval = watchdogInterval, now.timeIntervalSince(lastWatchdog) >= interval, pipeline.isHealthy {
                notifier.notify("WATCHDOG=1")
                lastWatchdog = now
            }
            if now.timeIntervalSince(lastStatus) >= 5 {
                counters.sample()
                notifier.notify("STATUS=\(counters.statusLine)")
                lastStatus = now
            }
            if let watched, now.timeIntervalSince(lastCgroupRefresh) >= 2 {
                watched.refresh()
                lastCgroupRefresh = now
            }
            if now.timeIntervalSince(lastPrune) >= 60 {
                let cutoff = Int64(now.timeIntervalSince1970 * 1e9) - configuration.retentionNanoseconds
                _ = try? store.prune(olderThanUnixNanoseconds: cutoff, maximumRows: configuration.retentionRows)
                lastPrune = now
            }
        }
        notifier.notify("STOPPING=1")
        log("stopping: draining the pipeline")
        monitor.stop()
        revalidator?.stop()
        server.stop()
        metricsServer?.stop()
        dns?.stop()
        let stats = monitor.statistics
        monitor.close()
        if let dns { log(dns.counters.description) }
        log("stopped; \(stats)")
        return 0
    }

    /// Reloads the contracts and the SBOMs (and rediscovers the package databases), all or nothing:
    /// a broken file leaves the old set in force (`failure`). An SBOM file that is gone is skipped
    /// with a warning; SBOMs added with `load-sbom` are read through ``SBOMFileGate`` again.
    func reloadContracts() -> (failure: String?, warnings: [String]) {
        notifier.notify("RELOADING=1\nMONOTONIC_USEC=\(WallClock.bootTimeNow() / 1000)")
        defer { notifier.notify("READY=1") }
        return sbomUpdate.withLock { _ in
            var warnings: [String] = []
            do {
                // SBOMs and package databases first, into a new index beside the old one; then the
                // contracts; the index is swapped only when both succeeded.
                var index = try AttributionSetup.index(sboms: [], root: configuration.sbomRoot, verbose: false, discovery: configuration.discovery)
                let loaded = loadedSBOMs.withLock { $0 }
                for sbom in configuration.sboms + loaded {
                    let document: SBOMDocument
                    if loaded.contains(sbom) && !configuration.sboms.contains(sbom) {
                        do {
                            document = try SBOMReader.read(data: try sbomGate.read(sbom), source: sbom)
                        } catch let error as SBOMFileError where error.errno == ENOENT {
                            warnings.append("\(error); skipped, the SBOM's paths are no longer attributed")
                            continue
                        }
                    } else {
                        guard access(sbom, F_OK) == 0 || errno != ENOENT else {
                            warnings.append("\(sbom): does not exist; skipped, the SBOM's paths are no longer attributed")
                            continue
                        }
                        document = try SBOMReader.read(contentsOf: sbom)
                    }
                    _ = SBOMIndexing.add(document, to: &index, root: configuration.sbomRoot)
                }
                let generation = try contracts.reload()
                indexState.withLock { $0 = index }
                monitor?.replaceAttributionIndex(index)
                for warning in warnings { log("reload: \(warning)", priority: 4) }
                log("contracts and SBOMs reloaded (generation \(generation); \(index.packages.count) packages, \(index.fileCount) files)")
                return (nil, warnings)
            } catch {
                log("reload refused, the old contracts and SBOMs stay in force: \(error)", priority: 4)
                return ("\(error)", warnings)
            }
        }
    }

    /// Stores then publishes one violation (pipeline or re-validation thread, one at a time).
    func record(_ violation: Violation) {
        recordLock.lock()
        defer { recordLock.unlock() }
        let unix = clock.unixNanoseconds(boot: violation.bootTimeNanoseconds)
        do {
            try store.insert(violation, unixNanoseconds: unix)
        } catch {
            counters.storeFailures.add(1, ordering: .relaxed)
            log("\(error)")
        }
        counters.violations.add(1, ordering: .relaxed)
        metrics.violation(violation.severity)
        let object = ViolationJSON.object(violation)
        let line = (try? JSONSerialization.data(
            withJSONObject: ["violation": object, "unix_ns": unix], options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        // Fleet export: the JSON line for shippers, and journald with structured fields.
        do { try export?.append(Array(line)) } catch { log("\(error)") }
        journal?.send([
            ("MESSAGE", "\(violation.package?.displayName ?? "unattributed") broke \(violation.contract)/\(violation.rule): \(violation.message)"),
            ("PRIORITY", violation.severity >= .high ? "3" : "4"),
            ("SYSLOG_IDENTIFIER", "probityd"),
            ("PROBITY_RULE", "\(violation.contract)/\(violation.rule)"),
            ("PROBITY_SEVERITY", violation.severity.rawValue),
            ("PROBITY_PACKAGE", violation.package?.name ?? ""),
            ("PROBITY_PURL", violation.package?.purl ?? ""),
            ("PROBITY_PID", "\(violation.processes.first?.pid ?? 0)"),
            ("PROBITY_VIOLATION", String(decoding: line, as: UTF8.self)),
        ])
        guard let server else { return }
        let captured = violation
        server.publish(kind: "violation", line: Array(line)) { filter in
            var f = ViolationStore.Filter()
            f.package = filter["package"]
            f.rule = filter["rule"]
            f.minimumSeverity = filter["severity"].flatMap(Severity.init(rawValue:))
            return f.accepts(captured, unixNanoseconds: unix)
        }
    }

    /// Publishes an event to event followers, when there are any (pipeline thread).
    func publish(_ event: Event, attribution: Attribution?) {
        let exporting = configuration.exportEvents && export != nil
        guard let server, server.eventFollowers > 0 || exporting else { return }
        let object = RecentEvents.summary(event, attribution: attribution, clock: &clock)
        if exporting, let line = try? JSONSerialization.data(withJSONObject: ["event": object], options: [.sortedKeys, .withoutEscapingSlashes]) {
            do { try export?.append(Array(line)) } catch { log("\(error)") }
        }
        guard server.eventFollowers > 0 else { return }
        guard let line = try? JSONSerialization.data(withJSONObject: ["event": object], options: [.sortedKeys, .withoutEscapingSlashes])
        else { return }
        let kind = event.kind.description
        let package = attribution?.package?.name
        server.publish(kind: "event", line: Array(line)) { filter in
            if let k = filter["kind"], k != kind { return false }
            if let p = filter["package"], p != package { return false }
            return true
        }
    }
}

/// Counters the status request reads while the pipeline runs.
final class DaemonCounters: Sendable {
    private let events = Mutex<[UInt64]>([UInt64](repeating: 0, count: Int(EventKind.allCases.map(\.rawValue).max() ?? 0) + 1))
    let violations = Atomic<UInt64>(0)
    let storeFailures = Atomic<UInt64>(0)
    let lastEventBoot = Atomic<UInt64>(0)

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

    /// Takes a sample (the main loop, every 5 s); rates are per second between the last two.
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

/// What the pipeline thread keeps.
final class PipelineState: @unchecked Sendable {
    // Safety: used only on the pipeline thread, except `isHealthy` (atomic).
    let daemon: Daemon
    var evaluator: Evaluator
    var generation: UInt64 = 0
    /// Identical findings within a minute are stored once, with a count.
    var repeats: [String: (unixSeconds: Int64, suppressed: Int)] = [:]
    private let heartbeat = Atomic<UInt64>(0)
    private var sampled: UInt64 = 0

    init(daemon: Daemon, evaluator: Evaluator) {
        self.daemon = daemon
        self.evaluator = evaluator
    }

    /// The pipeline is alive: it handled an event, or has nothing to handle, recently.
    var isHealthy: Bool {
        let last = heartbeat.load(ordering: .relaxed)
        return last == 0 || WallClock.bootTimeNow() - last < 30_000_000_000
    }

    func handle(_ event: Event, context: EventContext, monitor: Monitor) {
        heartbeat.store(event.header.bootTimeNanoseconds, ordering: .relaxed)
        // Only some cgroups watched: the process table and attribution still see everything (a
        // process may move in), but only watched events are counted, judged and published.
        if let watched = daemon.watched, !watched.contains(event.header.cgroupID) { return }
        daemon.counters.count(event.kind)
        daemon.metrics.event(event.kind)
        sampled &+= 1
        daemon.recent.append(event, attribution: context.attribution)
        daemon.publish(event, attribution: context.attribution)
        evaluator.refresh(from: daemon.contracts, generation: &generation)
        let timed = sampled & 63 == 0
        let start = timed ? WallClock.bootTimeNow() : 0
        let found = evaluator.evaluate(event, process: context.process, attribution: context.attribution, caller: context.caller) { pid in
            monitor.processTable.lineage(of: pid, limit: 8)
        }
        if timed { daemon.metrics.evaluated(nanoseconds: Int64(WallClock.bootTimeNow() - start)) }
        integrity(event, context: context)
        for var violation in found {
            let now = Int64(Date().timeIntervalSince1970)
            if let seen = repeats[violation.key], now - seen.unixSeconds < 60 {
                repeats[violation.key] = (seen.unixSeconds, seen.suppressed + 1)
                continue
            }
            violation.count += repeats[violation.key]?.suppressed ?? 0
            repeats[violation.key] = (now, 0)
            if repeats.count > 100_000 { repeats.removeAll() }
            daemon.record(violation)
        }
    }
}

extension PipelineState {
    /// Feeds re-validation: executed files and loaded code are queued for hashing; a program run
    /// from inside a package's directory that the package does not list, and a `.pth` file written
    /// by anything but the Python installers, are findings at once.
    func integrity(_ event: Event, context: EventContext) {
        guard let revalidator = daemon.revalidator else { return }
        switch event {
        case .exec(let exec) where exec.succeeded:
            revalidator.consider(exec.executable, pid: exec.header.pid, executable: exec.executable)
            if exec.filename.hasPrefix("/") && exec.filename != exec.executable {
                revalidator.consider(exec.filename, pid: exec.header.pid, executable: exec.executable)
            }
            for path in [exec.executable, exec.filename] where path.hasPrefix("/") {
                if let owner = daemon.indexValue.owner(of: path), owner.package.source != .dpkg, case .root = owner.match {
                    daemon.recordIntegrity(Revalidator.Finding(
                        path: path, rule: "unlisted-executable",
                        message: "\(path) runs from inside \(owner.package.name)'s directory but the package does not list it (a dropped binary?)",
                        pid: exec.header.pid, executable: exec.executable, uid: exec.header.uid))
                    break
                }
            }
        case .open(let open) where open.result >= 0:
            if open.flags.reads, Revalidator.isLoadedCode(open.path) {
                revalidator.consider(open.path, pid: open.header.pid, executable: context.process?.executable ?? "")
            }
            if (open.flags.writes || open.flags.creates), open.path.hasSuffix(".pth"), open.path.contains("-packages/"),
               !Self.pythonInstallers.contains(context.attribution?.package?.name.lowercased() ?? "") {
                daemon.recordIntegrity(Revalidator.Finding(
                    path: open.path, rule: "new-pth",
                    message: "\(open.path) was written by \(context.attribution?.package?.name ?? "unattributed code"): a .pth file runs code in every Python start",
                    pid: open.header.pid, executable: context.process?.executable ?? "", uid: open.header.uid))
            }
        default:
            break
        }
    }

    static let pythonInstallers: Set<String> = ["pip", "setuptools", "python3-pip", "uv", "poetry", "pipx", "wheel", "virtualenv"]
}

/// SIGTERM / SIGINT (stop) and SIGHUP (reload) as flags the main loop polls.
enum DaemonSignals {
    private static let stop = Atomic<Bool>(false)
    private static let reload = Atomic<Bool>(false)

    static var stopRequested: Bool { stop.load(ordering: .relaxed) }
    static func takeReload() -> Bool { reload.exchange(false, ordering: .relaxed) }

    static func install() {
        let onStop: @convention(c) (Int32) -> Void = { _ in DaemonSignals.stop.store(true, ordering: .relaxed) }
        let onReload: @convention(c) (Int32) -> Void = { _ in DaemonSignals.reload.store(true, ordering: .relaxed) }
        signal(SIGTERM, onStop)
        signal(SIGINT, onStop)
        signal(SIGHUP, onReload)
        signal(SIGPIPE, SIG_IGN)
    }
}
