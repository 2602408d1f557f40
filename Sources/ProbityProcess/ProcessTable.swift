#if canImport(Glibc)
import Glibc
#endif
import ProbityEvents

/// What Probity knows about one process.
public struct TrackedProcess: Sendable, Hashable {
    public var pid: Int32
    public var ppid: Int32
    public var uid: UInt32
    /// Start time in `CLOCK_BOOTTIME` ns (0 when unknown); with the pid, the process's identity.
    public var startTimeNanoseconds: UInt64
    /// The executable the kernel ran last (empty when unknown).
    public var executable: String
    public var argv: [String]
    public var cwd: String
    /// Set once the process has exited: its wait status and when (boot-time ns).
    public var exitStatus: UInt32?
    public var exitTimeNanoseconds: UInt64?
    /// Where the entry came from: seeded from /proc, or built from events.
    public var seededFromProc: Bool
    /// The dynamic loader's `LD_PRELOAD`, `LD_AUDIT` and `LD_LIBRARY_PATH` (`KEY=VALUE`) the
    /// program was started with: code added to it, or libraries taken from elsewhere.
    public var loaderVariables: [String] = []
    /// The environment the kernel copied at exec was cut (its start is missing), so the loader's
    /// variables are unknown.
    public var environmentIncomplete = false
    /// The program runs from a file with no link on disk (`memfd_create`, deleted).
    public var executableUnlinked = false

    public init(
        pid: Int32, ppid: Int32, uid: UInt32 = 0, startTimeNanoseconds: UInt64 = 0, executable: String = "",
        argv: [String] = [], cwd: String = "", seededFromProc: Bool = false
    ) {
        self.pid = pid
        self.ppid = ppid
        self.uid = uid
        self.startTimeNanoseconds = startTimeNanoseconds
        self.executable = executable
        self.argv = argv
        self.cwd = cwd
        self.seededFromProc = seededFromProc
    }
}

/// pid → process, kept current from fork / exec / exit events and seeded from /proc for the
/// processes that were running before the probes attached.
///
/// Memory is bounded: an exited process is forgotten `retentionNanoseconds` after its exit
/// (by then its last events have been through the pipeline), and the table never holds more
/// than `capacity` entries (the oldest exited, then the oldest, go first).
public struct ProcessTable: Sendable {
    public private(set) var processes: [Int32: TrackedProcess] = [:]
    public var retentionNanoseconds: UInt64
    public var capacity: Int
    private var exitedOrder: [(pid: Int32, start: UInt64, at: UInt64)] = []
    private var exitedHead = 0

    public init(retentionNanoseconds: UInt64 = 5_000_000_000, capacity: Int = 1 << 20) {
        self.retentionNanoseconds = retentionNanoseconds
        self.capacity = capacity
    }

    public var count: Int { processes.count }

    public subscript(pid: Int32) -> TrackedProcess? { processes[pid] }

    /// Updates the table from one event.
    public mutating func apply(_ event: Event) {
        switch event {
        case .fork(let f):
            let parent = processes[f.header.pid]
            var child = TrackedProcess(
                pid: f.childPID, ppid: f.header.pid, uid: f.header.uid, startTimeNanoseconds: f.childStartTimeNanoseconds,
                executable: parent?.executable ?? "", argv: parent?.argv ?? [], cwd: parent?.cwd ?? "")
            child.seededFromProc = false
            child.loaderVariables = parent?.loaderVariables ?? []
            child.environmentIncomplete = parent?.environmentIncomplete ?? false
            child.executableUnlinked = parent?.executableUnlinked ?? false
            processes[f.childPID] = child
        case .exec(let e) where e.succeeded:
            var info = processes[e.header.pid] ?? TrackedProcess(pid: e.header.pid, ppid: e.header.ppid)
            info.ppid = e.header.ppid
            info.uid = e.header.uid
            info.startTimeNanoseconds = e.startTimeNanoseconds
            info.executable = e.executable
            info.argv = e.argv
            info.cwd = e.cwd
            info.loaderVariables = e.environment.filter(Self.isLoaderVariable)
            info.environmentIncomplete = e.header.flags.contains(.environmentTruncated)
            info.executableUnlinked = e.isMemoryBacked
            processes[e.header.pid] = info
        case .exit(let x):
            guard var info = processes[x.header.pid] else { return }
            info.exitStatus = x.status
            info.exitTimeNanoseconds = x.header.bootTimeNanoseconds
            processes[x.header.pid] = info
            exitedOrder.append((x.header.pid, info.startTimeNanoseconds, x.header.bootTimeNanoseconds))
        default:
            let h = event.header
            if processes.index(forKey: h.pid) == nil {
                processes[h.pid] = TrackedProcess(pid: h.pid, ppid: h.ppid, uid: h.uid)
            }
        }
        if processes.count > capacity { evictOverCapacity() }
    }

    /// Whether a `KEY=VALUE` entry sets one of the dynamic loader's variables.
    static func isLoaderVariable(_ entry: String) -> Bool {
        guard let eq = entry.firstIndex(of: "=") else { return false }
        return EnvironmentFilter.loaderNames.contains(String(entry[..<eq]))
    }

    /// Forgets processes that exited more than the retention time before `now` (boot-time ns).
    public mutating func forgetExited(before now: UInt64) {
        while exitedHead < exitedOrder.count {
            let entry = exitedOrder[exitedHead]
            guard now >= entry.at, now - entry.at >= retentionNanoseconds else { break }
            if let info = processes[entry.pid], info.exitTimeNanoseconds == entry.at {
                processes[entry.pid] = nil
            }
            exitedHead += 1
        }
        if exitedHead > 4096 && exitedHead * 2 > exitedOrder.count {
            exitedOrder.removeFirst(exitedHead)
            exitedHead = 0
        }
    }

    /// The process and its ancestors, nearest first, as far as the table knows them.
    public func lineage(of pid: Int32, limit: Int = 64) -> [TrackedProcess] {
        var chain: [TrackedProcess] = []
        var next: Int32? = pid
        var seen = Set<Int32>()
        while let p = next, chain.count < limit, seen.insert(p).inserted, let info = processes[p] {
            chain.append(info)
            next = info.ppid > 0 ? info.ppid : nil
        }
        return chain
    }

    /// Whether `pid` descends from (or is) `ancestor`.
    public func isDescendant(_ pid: Int32, of ancestor: Int32) -> Bool {
        lineage(of: pid).contains { $0.pid == ancestor }
    }

    /// Adds an entry directly (seeding, tests).
    public mutating func insert(_ info: TrackedProcess) { processes[info.pid] = info }

    private mutating func evictOverCapacity() {
        let victims = processes.values.sorted {
            ($0.exitTimeNanoseconds == nil ? 1 : 0, $0.startTimeNanoseconds) < ($1.exitTimeNanoseconds == nil ? 1 : 0, $1.startTimeNanoseconds)
        }.prefix(processes.count - capacity + capacity / 8)
        for v in victims { processes[v.pid] = nil }
    }
}
