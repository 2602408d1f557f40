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
    /// Where events go (standard output by default).
    public var outputFD: Int32 = 1
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
        // Fork the command before any thread exists; it waits at the gate.
        let child = options.command.isEmpty ? nil : try GatedChild(command: options.command)
        if child == nil { StopSignal.install() }
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
            monitorOptions.attributionIndex = try AttributionSetup.index(
                sboms: options.sboms, root: options.sbomRoot, verbose: options.verbose)
        }
        let monitor: Monitor
        do {
            monitor = try Monitor(options: monitorOptions)
        } catch {
            child?.abandon()
            throw error
        }
        if options.verbose { report(hooks: monitor.probes.hookStatus) }

        let sink = OutputSink(fd: options.outputFD, json: options.json)
        let childPID = child?.pid
        let childExited = Atomic<Bool>(false)
        monitor.start { event, context in
            sink.write(event, context: context)
            if case .exit(let x) = event, x.header.pid == childPID { childExited.store(true, ordering: .releasing) }
        }

        var status: Int32 = 0
        if let child {
            child.release()
            let wait = child.wait()
            status = GatedChild.exitCode(fromWaitStatus: wait)
            // Let the child's last events (its exit) come through, bounded.
            let deadline = WallClock.bootTimeNow() + 2_000_000_000
            while !childExited.load(ordering: .acquiring) && WallClock.bootTimeNow() < deadline { usleep(2000) }
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
    /// The index of the dpkg, pip and npm packages found on this machine, plus `sboms` (relative paths under `root`).
    public static func index(sboms: [String], root: String, verbose: Bool) throws -> PathIndex {
        var found = PackageDiscovery.discover()
        for problem in found.problems { printError("probity: \(TerminalText.safe(problem))\n") }
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

/// SIGINT / SIGTERM as a flag the main loop polls.
enum StopSignal {
    private static let flag = Atomic<Bool>(false)
    static var received: Bool { flag.load(ordering: .relaxed) }

    static func install() {
        let handler: @convention(c) (Int32) -> Void = { _ in StopSignal.flag.store(true, ordering: .relaxed) }
        signal(SIGINT, handler)
        signal(SIGTERM, handler)
    }
}
