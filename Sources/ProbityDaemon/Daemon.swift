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
///
/// This type only wires the parts together and runs their lifecycle; each part has one job:
/// ``AttributionCatalog`` (the index and its SBOMs), ``DaemonPipeline`` (what happens to each
/// event), ``ViolationRecorder`` and ``EventPublisher`` (where violations and events go),
/// ``IntegrityFeed`` (re-validation), ``Housekeeping`` (periodic work), ``ControlServer`` and
/// ``MetricsHTTPServer`` (the sockets).
public final class Daemon: @unchecked Sendable {
    // Safety: `monitor`, `server`, `dns` and `metricsServer` are set in `serve` before any thread
    // that reads them starts; everything else is immutable or thread-safe.
    let configuration: DaemonConfiguration
    let contracts: ContractStore
    let store: ViolationStore
    let notifier: ServiceNotifier
    let log: DaemonLog
    /// The DNS servers of /etc/resolv.conf at start: `{resolvers}`, and the only servers whose
    /// answers are believed.
    let resolvers: ResolverConfiguration
    let catalog: AttributionCatalog
    let counters = DaemonCounters()
    let metrics = DaemonMetrics()
    let recent: RecentEvents
    let recorder: ViolationRecorder
    let events: EventPublisher
    let integrity: IntegrityFeed
    /// When only some cgroups are watched.
    let watched: WatchedCgroups?
    let started = Date()
    private var monitor: Monitor?
    private var server: ControlServer?
    private var dns: DNSObserver?
    private var metricsServer: MetricsHTTPServer?

    var probesSnapshot: KernelProbes? { monitor?.probes }
    var revalidator: Revalidator? { integrity.revalidator }

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
        let journal = JournalWriter(socketPath: configuration.journalSocket)
        log = DaemonLog(environment: environment, journal: journal)
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
        catalog = try AttributionCatalog(configuration: configuration, log: log)
        recent = RecentEvents(capacity: configuration.recentEvents)
        var export: FleetExport?
        if !configuration.exportFile.isEmpty {
            let file = configuration.exportFile.hasPrefix("/") ? configuration.exportFile : configuration.stateDirectory + "/" + configuration.exportFile
            export = try FleetExport(path: file, maximumBytes: configuration.exportMaxBytes, keep: configuration.exportKeep,
                                     includesEvents: configuration.exportEvents)
        }
        recorder = ViolationRecorder(store: store, export: export, journal: journal, counters: counters, metrics: metrics, log: log)
        events = EventPublisher(export: export, counters: counters, log: log)
        integrity = IntegrityFeed(configuration: configuration, catalog: catalog, recorder: recorder, contracts: contracts)
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

    /// Loads the probes, starts every part, serves until SIGTERM or SIGINT (SIGHUP reloads),
    /// then drains the pipeline and stops every part.
    func serve() throws -> Int32 {
        let signals = DaemonSignals()
        var monitorOptions = MonitorOptions()
        monitorOptions.probes.ringBufferBytes = configuration.ringBufferMiB << 20
        let index = catalog.index
        monitorOptions.attributionIndex = index
        let monitor = try Monitor(options: monitorOptions)
        self.monitor = monitor
        catalog.onChange { monitor.replaceAttributionIndex($0) }
        let attached = monitor.probes.hookStatus.filter { $0.state == .attached }.count
        log("\(attached)/\(monitor.probes.hookStatus.count) hooks attached; \(index.packages.count) packages, \(index.fileCount) files indexed")
        for hook in monitor.probes.hookStatus where hook.state != .attached { log("  \(hook)") }

        let dns = startDNS()
        var limits = ControlServer.Limits()
        limits.idleTimeout = .milliseconds(Int64(configuration.controlIdleSeconds * 1000))
        limits.maximumConnections = configuration.controlConnections
        let server = ControlServer(path: configuration.socket, group: configuration.socketGroup, service: self, limits: limits)
        self.server = server
        recorder.followers = server
        events.followers = server

        var evaluator = Evaluator(contracts: contracts.snapshot.contracts)
        // As `probity run` does: a connect with no name yet waits once for the DNS thread.
        if let dns { evaluator.hostnames = { dns.namesCatchingUp(for: $0.address) } }
        let pipeline = DaemonPipeline(.init(
            contracts: contracts, watched: watched, counters: counters, metrics: metrics, recent: recent, events: events,
            recorder: recorder, integrity: integrity), evaluator: evaluator)
        monitor.start { event, context in pipeline.handle(event, context: context, monitor: monitor) }
        try server.start()
        integrity.revalidator.start()
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

        let housekeeping = Housekeeping(daemon: self, pipeline: pipeline)
        housekeeping.start()
        signals.wait(onReload: { [self] in _ = reloadContracts() })

        notifier.notify("STOPPING=1")
        log("stopping: draining the pipeline")
        housekeeping.stop()
        monitor.stop()
        integrity.revalidator.stop()
        server.stop()
        metricsServer?.stop()
        dns?.stop()
        let stats = monitor.statistics
        monitor.close()
        if let dns { log(dns.counters.description) }
        log("stopped; \(stats)")
        return 0
    }

    /// The DNS observer (answers believed only from the configured resolvers, to queries seen),
    /// started; nil when its packet socket cannot be opened.
    private func startDNS() -> DNSObserver? {
        guard let dns = try? DNSObserver(servers: resolvers.serverAddresses) else { return nil }
        dns.start()
        log("DNS resolvers: \(resolvers.nameservers.map(\.description).joined(separator: ", "))\(resolvers.isDefault ? " (none configured: glibc's default)" : ""); answers believed only from them, to queries seen")
        for problem in resolvers.problems { log("/etc/resolv.conf: \(problem)", priority: 4) }
        let cache = NameServiceCache.invalidateHosts()
        if cache != .absent { log("\(cache)") }
        self.dns = dns
        return dns
    }

    /// Reloads the contracts and the SBOMs (and rediscovers the package databases), all or
    /// nothing: a broken file leaves the old set in force (`failure`).
    func reloadContracts() -> (failure: String?, warnings: [String]) {
        notifier.notify("RELOADING=1\nMONOTONIC_USEC=\(WallClock.bootTimeNow() / 1000)")
        defer { notifier.notify("READY=1") }
        do {
            var generation: UInt64 = 0
            let (index, warnings) = try catalog.rebuild { generation = try contracts.reload() }
            for warning in warnings { log("reload: \(warning)", priority: 4) }
            log("contracts and SBOMs reloaded (generation \(generation); \(index.packages.count) packages, \(index.fileCount) files)")
            return (nil, warnings)
        } catch {
            log("reload refused, the old contracts and SBOMs stay in force: \(error)", priority: 4)
            return ("\(error)", [])
        }
    }
}
