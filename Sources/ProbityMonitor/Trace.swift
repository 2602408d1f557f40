#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import ProbityAttribution
import ProbityEvents
import ProbityProbes
import ProbityProcess
import ProbitySinks

/// What `probity trace` does: stream events, for the whole host, one process tree, or a command
/// it starts itself.
public struct TraceOptions: Sendable {
    /// JSON lines (the schema in docs/events.md) instead of readable text.
    public var json = false
    /// Follow this process and its descendants.
    public var pid: Int32?
    /// Start this command and follow exactly its tree; exit with its status.
    public var command: [String] = []
    public var ringBufferBytes = 16 << 20
    public var coalesceWindowNanoseconds: UInt64 = 1_000_000_000
    /// Where events go: this file (created or truncated, mode 0640) when set. Otherwise standard
    /// output; with a command, the command's own standard output then goes to standard error, so
    /// that standard output carries events only (`probity trace --json -- CMD | jq`).
    public var outputFile: String?
    /// Print hooks and loss figures to standard error.
    public var verbose = true
    /// Attribute events to packages (dpkg, pip, npm databases found on this machine).
    public var attribution = true
    /// SBOMs whose file paths also attribute events, and the directory their relative paths are in.
    public var sboms: [String] = []
    public var sbomRoot = "/"

    public init() {}

    /// `--coalesce-ms`: up to an hour (in nanoseconds, far inside `UInt64`).
    public static let coalesceMillisecondsRange: ClosedRange<UInt64> = 0...3_600_000
    /// `--ring-buffer-mb` of `probity trace` and `probity run`.
    public static let ringBufferMiBRange = 1...1024
    /// `--pid`: a process, never 0 or a negative number (which `kill` reads as a process group).
    public static let pidRange: ClosedRange<Int32> = 1...Int32.max
}

/// Errors of `probity trace` that are not the probes' own.
public struct TraceError: Error, CustomStringConvertible {
    public var description: String
}

/// Runs `probity trace`. Returns the exit status for the process: the command's own with
/// `-- CMD`, else 0 after SIGINT/SIGTERM.
public enum Trace {
    public static func run(_ options: TraceOptions) throws -> Int32 {
        let command = options.command
        // Resolved here, so that the trace shows one exec (of the file found), not one failed
        // exec per PATH entry, and a missing command is named before the probes load. argv[0]
        // stays as typed (busybox and friends read it).
        let program = try command.first.map { name throws(CommandLookup.Failure) in try CommandLookup.resolve(name) }
        let outputFD = try openOutput(options, withCommand: !command.isEmpty)
        defer { if outputFD != 1 { close(outputFD) } }
        // Fork the command before any thread exists; it waits at the gate.
        let child = command.isEmpty ? nil : try GatedChild(command: command, program: program)
        StopSignal.install()
        var monitorOptions = MonitorOptions()
        monitorOptions.probes.ringBufferBytes = options.ringBufferBytes
        monitorOptions.probes.coalesceWindowNanoseconds = options.coalesceWindowNanoseconds
        if let child {
            monitorOptions.probes.followPIDs = [child.pid]
        } else if let pid = options.pid {
            guard kill(pid, 0) == 0 || errno == EPERM else {
                throw TraceError(description: "--pid \(pid): no such process")
            }
            monitorOptions.probes.followPIDs = [pid] + descendants(of: pid)
        }

        if options.attribution {
            do {
                monitorOptions.attributionIndex = try AttributionSetup.index(
                    sboms: options.sboms, root: options.sbomRoot, verbose: options.verbose)
            } catch {
                child?.abandon()
                throw error
            }
        }
        let monitor: Monitor
        do {
            monitor = try Monitor(options: monitorOptions)
        } catch {
            child?.abandon()
            throw error
        }
        if options.verbose { report(hooks: monitor.probes.hookStatus) }

        let sink = OutputSink(fd: outputFD, json: options.json)
        let childPID = child?.pid
        let childExited = Atomic<Bool>(false)
        // With --pid: the processes of the followed tree still alive, by fork and exit events.
        let tree = Mutex<Set<Int32>>(Set(monitorOptions.probes.followPIDs ?? []))
        let followingTree = child == nil && options.pid != nil
        monitor.start { event, context in
            sink.write(event, context: context)
            switch event {
            case .exit(let x):
                if x.header.pid == childPID { childExited.store(true, ordering: .releasing) }
                if followingTree { tree.withLock { _ = $0.remove(x.header.pid) } }
            case .fork(let f) where followingTree:
                tree.withLock { if $0.contains(f.header.pid) { $0.insert(f.childPID) } }
            default: break
            }
        }

        var status: Int32 = 0
        if let child {
            if StopSignal.received {
                // Interrupted while the probes loaded: the command never ran.
                child.abandon()
                status = 128 + StopSignal.number
            } else {
                child.release()
                waitForwardingSignals(to: child.pid)
                status = GatedChild.exitCode(fromWaitStatus: child.wait())
                // Let the child's last events (its exit) come through, bounded.
                let deadline = WallClock.bootTimeNow() + 2_000_000_000
                while !childExited.load(ordering: .acquiring) && WallClock.bootTimeNow() < deadline { usleep(2000) }
            }
        } else if followingTree, let pid = options.pid {
            // Like strace -p: until the tree has exited (or a signal stops the trace).
            tree.withLock { $0.formUnion(descendants(of: pid)) }
            var lastCheck: UInt64 = 0
            while !StopSignal.received {
                let now = WallClock.bootTimeNow()
                if now - lastCheck > 250_000_000 {
                    // Exits the probes did not report (before they attached, or lost).
                    lastCheck = now
                    tree.withLock { set in set = set.filter { kill($0, 0) == 0 || errno == EPERM } }
                }
                if tree.withLock({ $0.isEmpty }) { break }
                usleep(20_000)
            }
        } else {
            while !StopSignal.received { usleep(50_000) }
        }
        monitor.stop()
        sink.flush()
        let stats = monitor.statistics
        monitor.close()
        if options.verbose || stats.lostTotal > 0 {
            printError("probity: \(stats)\n")
        }
        if sink.writeErrors > 0 {
            printError("probity: \(sink.writeErrors) bytes of output could not be written\n")
        }
        return status
    }

    /// The descriptor events are written to (see ``TraceOptions/outputFile``). Without a file and
    /// with a command, standard output is kept for the events and descriptor 1 becomes a copy
    /// of standard error, which the command inherits.
    static func openOutput(_ options: TraceOptions, withCommand: Bool) throws -> Int32 {
        if let file = options.outputFile {
            let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
            guard fd >= 0 else {
                throw TraceError(description: "-o \(TerminalText.safe(file)): \(String(cString: strerror(errno)))")
            }
            return fd
        }
        guard withCommand else { return 1 }
        let events = fcntl(1, F_DUPFD_CLOEXEC, 3)
        guard events >= 0, dup2(2, 1) == 1 else {
            throw TraceError(description: "standard output: \(String(cString: strerror(errno)))")
        }
        return events
    }

    /// Waits until the command has exited, without reaping it. A SIGINT or SIGTERM Probity
    /// receives is passed on to the command when the command has not exited 0.2 s later (a
    /// Ctrl-C at the terminal reaches the whole group, and the command is not sent it twice).
    static func waitForwardingSignals(to pid: pid_t) {
        var seen = 0
        var receivedAt: UInt64 = 0
        while true {
            var info = siginfo_t()
            let r = waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT)
            if r < 0 && errno != EINTR { return }
            if r == 0 && info._sifields._sigchld.si_pid == pid { return }
            let count = StopSignal.count
            if count != seen {
                if receivedAt == 0 { receivedAt = WallClock.bootTimeNow() }
                if WallClock.bootTimeNow() - receivedAt >= 200_000_000 {
                    kill(pid, StopSignal.number)
                    seen = count
                    receivedAt = 0
                }
            }
            usleep(10_000)
        }
    }

    static func report(hooks: [HookStatus]) {
        let attached = hooks.filter { $0.state == .attached }.count
        printError("probity: \(attached)/\(hooks.count) hooks attached\n")
        for h in hooks where h.state != .attached { printError("probity:   \(h)\n") }
    }

    /// Current descendants of `pid` according to /proc.
    static func descendants(of pid: Int32) -> [Int32] {
        var table = ProcessTable()
        for info in ProcSeeder.snapshot() { table.insert(info) }
        return table.processes.keys.filter { $0 != pid && table.isDescendant($0, of: pid) }
    }
}

/// Builds the path → package index from the package databases found on this machine and SBOMs.
public enum AttributionSetup {
    /// The index of the dpkg, pip and npm packages found where `discovery` says (default: this
    /// machine's and the working directory's), plus `sboms` (relative paths under `root`).
    /// Problems with the databases (a row, a package skipped) go to standard error, `log` when given.
    public static func index(
        sboms: [String], root: String, verbose: Bool, discovery: DiscoveryOptions = DiscoveryOptions(),
        log: ((String) -> Void)? = nil
    ) throws -> PathIndex {
        var found = PackageDiscovery.discover(discovery)
        for problem in found.problems {
            if let log { log(problem) } else { printError("probity: \(TerminalText.safe(problem))\n") }
        }
        for sbom in sboms {
            let document = try SBOMReader.read(contentsOf: sbom)
            let paths = SBOMIndexing.add(document, to: &found.index, root: root)
            found.counts[.sbom, default: 0] += document.components.count
            if verbose { printError("probity: \(TerminalText.safe(sbom)): \(document.components.count) components, \(paths) paths\n") }
        }
        if verbose {
            let counts = InstalledPackage.Source.allCases.compactMap { s in found.counts[s].map { "\(s.rawValue) \($0)" } }
            printError("probity: packages: \(counts.joined(separator: ", ")); \(found.index.fileCount) files indexed\n")
        }
        return found.index
    }
}

/// The trace's output, owned by the pipeline thread while it runs.
final class OutputSink: @unchecked Sendable {
    private var encoder: EventJSONEncoder
    private var clock = WallClock()
    private let json: Bool
    private let fd: Int32
    private var textErrors = 0

    init(fd: Int32, json: Bool) {
        self.fd = fd
        self.json = json
        encoder = EventJSONEncoder(fd: fd)
    }

    func write(_ event: Event, context: EventContext) {
        if json {
            encoder.write(event, process: context.process, attribution: context.attribution)
        } else {
            let line = EventText.line(event, process: context.process, attribution: context.attribution, clock: &clock) + "\n"
            let n = line.utf8.withContiguousStorageIfAvailable { Glibc.write(fd, $0.baseAddress, $0.count) } ?? -1
            if n < 0 { textErrors += line.utf8.count }
        }
    }

    func flush() { encoder.flush() }
    var writeErrors: Int { encoder.writeErrors + textErrors }
}

/// Writes a line to standard error. Every control character but the line feeds is rendered
/// visibly (``TerminalText/lines(_:)``): what Probity prints cannot drive the terminal, whatever
/// a path or a name it quotes holds. Values that must stay on their line go through
/// ``TerminalText/safe(_:)`` first.
func printError(_ text: String) {
    var text = TerminalText.lines(text)
    text.withUTF8 { _ = Glibc.write(2, $0.baseAddress, $0.count) }
}

/// SIGINT / SIGTERM as a count and the last signal, which the main loop polls.
enum StopSignal {
    private static let received_ = Atomic<Int>(0)
    private static let last = Atomic<Int32>(SIGINT)
    static var received: Bool { received_.load(ordering: .acquiring) > 0 }
    /// How many have arrived.
    static var count: Int { received_.load(ordering: .acquiring) }
    /// The last one received (SIGINT before any).
    static var number: Int32 { last.load(ordering: .relaxed) }

    static func install() {
        let handler: @convention(c) (Int32) -> Void = { signal in
            StopSignal.last.store(signal, ordering: .relaxed)
            StopSignal.received_.add(1, ordering: .releasing)
        }
        signal(SIGINT, handler)
        signal(SIGTERM, handler)
    }
}
