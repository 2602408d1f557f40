#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import ProbityAttribution
import ProbityEvents
import ProbityPipeline
import ProbityProbes
import ProbityProcess

/// Loss and throughput figures of a running or finished monitor.
public struct MonitorStatistics: Sendable, CustomStringConvertible {
    /// Records the kernel could not reserve in the ring buffer, per kind.
    public var kernelDrops: [EventKind: UInt64]
    /// Opens folded into earlier identical records in the kernel (not lost: counted in `count`).
    public var coalescedOpens: UInt64
    public var pipeline: PipelineCounters.Snapshot
    /// Events decoded and delivered, per kind.
    public var delivered: [EventKind: UInt64]
    /// Processes of a followed tree the kernel could not follow (`tracked` was full): none of
    /// their events were seen.
    public var unfollowedProcesses: UInt64 = 0
    /// Processes that should have inherited an enforcement class and did not (`enforce_class`
    /// was full): nothing was enforced on them.
    public var unenforcedProcesses: UInt64 = 0

    public var kernelDropTotal: UInt64 { kernelDrops.values.reduce(0, +) }
    /// Everything lost anywhere: kernel drops, user-space drops and undecodable records.
    public var lostTotal: UInt64 { kernelDropTotal + pipeline.dropped + pipeline.undecodable }

    public var description: String {
        let kinds = EventKind.allCases.map { "\($0)=\(delivered[$0] ?? 0)" }.joined(separator: " ")
        let drops = EventKind.allCases.compactMap { k in (kernelDrops[k] ?? 0) > 0 ? "\(k)=\(kernelDrops[k] ?? 0)" : nil }
        return "events: \(kinds); lost: \(lostTotal) (kernel \(kernelDropTotal)\(drops.isEmpty ? "" : ": " + drops.joined(separator: " ")), "
            + "user-space dropped \(pipeline.dropped), undecodable \(pipeline.undecodable)); "
            + "coalesced opens: \(coalescedOpens); batches: \(pipeline.batches)"
            + (unfollowedProcesses + unenforcedProcesses > 0
                ? "; processes not watched (kernel map full): \(unfollowedProcesses) not followed, \(unenforcedProcesses) not enforced" : "")
    }
}

/// Settings of a ``Monitor``.
public struct MonitorOptions: Sendable {
    public var probes = ProbeOptions()
    /// How often the reader polls the ring buffer.
    public var pollMilliseconds: Int32 = 5
    /// Seed the process table from /proc at start.
    public var seedFromProc = true
    /// Attribute events to packages with this index (nil: no attribution).
    public var attributionIndex: PathIndex?
    /// `probity run`: the command's pid (not yet executed) and its arguments. It and everything
    /// it starts are the workspace unless package code takes over (docs/attribution.md). nil:
    /// probityd's view, where the host's own tools are system executables.
    public var workspace: WorkspaceRoot?

    public init() {}
}

/// The command `probity run` watches, seeded as the workspace before it execs.
public struct WorkspaceRoot: Sendable {
    public var pid: Int32
    public var command: [String]

    public init(pid: Int32, command: [String]) {
        self.pid = pid
        self.command = command
    }
}

/// What the pipeline knows about an event's process when it hands the event on.
public struct EventContext: Sendable {
    /// The process table's entry for the event's process.
    public var process: TrackedProcess?
    /// The package responsible, when attribution is on.
    public var attribution: Attribution?
    /// For an exec: the attribution the process had before it (the code that asked for the exec).
    public var caller: Attribution?
}

/// The event path from the kernel to a handler: probes → ring-buffer reader thread → SPSC queue
/// → processing thread (decode, process table) → `handler`, called on the processing thread
/// once per event with the process table entry of the event's process.
public final class Monitor: @unchecked Sendable {
    // Safety: `processor` is owned by the processing thread while it runs, and read by others
    // only after stop() has joined it.

    public let probes: KernelProbes
    private let reader: RingBufferReader
    private let counters = PipelineCounters()
    private let processor: EventProcessor
    private let running = Atomic<Bool>(false)
    /// Signalled once by the thread as it ends (a stop waits for it; nothing spins).
    private let ended = DispatchSemaphore(value: 0)
    private var handler: (@Sendable (Event, EventContext) -> Void)?
    private let pendingIndex = Mutex<PathIndex?>(nil)

    /// Attributes with `index` from the next batch on (any thread). Processes keep the
    /// attributions they have; their next execs are decided with the new index.
    public func replaceAttributionIndex(_ index: PathIndex) {
        pendingIndex.withLock { $0 = index }
    }

    /// Loads and attaches the probes. Nothing is delivered until ``start(handler:)``.
    public init(options: MonitorOptions = MonitorOptions()) throws(ProbeError) {
        probes = try KernelProbes.load(options: options.probes)
        reader = try RingBufferReader(mapFD: probes.eventsMapFD, counters: counters, pollMilliseconds: options.pollMilliseconds)
        var table = ProcessTable()
        if options.seedFromProc {
            for info in ProcSeeder.snapshot() { table.insert(info) }
        }
        processor = EventProcessor(table: table, attributionIndex: options.attributionIndex, workspace: options.workspace)
    }

    /// Starts the reader and processing threads; `handler` sees every event in order.
    public func start(handler: @escaping @Sendable (Event, EventContext) -> Void) {
        guard !running.exchange(true, ordering: .acquiringAndReleasing) else { return }
        self.handler = handler
        reader.start()
        let thread = Thread { [self] in self.process() }
        thread.name = "probity-pipeline"
        thread.start()
    }

    /// Drains everything the kernel has written, delivers it, and stops both threads.
    public func stop() {
        reader.stop()
        guard running.exchange(false, ordering: .acquiringAndReleasing) else { return }
        reader.batchReady.signal()  // the processing thread may be asleep after the last batch
        ended.wait()
    }

    /// Detaches the probes. Call after ``stop()``.
    public func close() { probes.close() }


    public var statistics: MonitorStatistics {
        var byKind: [EventKind: UInt64] = [:]
        for kind in EventKind.allCases { byKind[kind] = processor.delivered[Int(kind.rawValue)] }
        let full = probes.mapFullCounts()
        return MonitorStatistics(
            kernelDrops: probes.kernelDrops(), coalescedOpens: probes.coalescedOpens(), pipeline: counters.snapshot,
            delivered: byKind, unfollowedProcesses: full.tracked, unenforcedProcesses: full.enforceClass)
    }

    /// The process table (read it after ``stop()``; while running it belongs to the pipeline).
    public var processTable: ProcessTable { processor.table }

    /// The processing thread: sleeps until the reader hands on a batch (woken by its semaphore,
    /// not by a timer, so an idle monitor costs no wake-ups beyond the reader's poll).
    private func process() {
        while true {
            if let batch = reader.queue.pop() {
                deliver(batch)
                var empty = batch
                empty.removeAll()
                _ = reader.recycled.push(empty)
                continue
            }
            if !running.load(ordering: .acquiring) && reader.isFinished && reader.queue.count == 0 { break }
            _ = reader.batchReady.wait(timeout: .now() + .milliseconds(50))
        }
        ended.signal()
    }

    private func deliver(_ batch: RecordBatch) {
        guard let handler else { return }
        if let index = pendingIndex.withLock({ pending -> PathIndex? in defer { pending = nil }; return pending }) {
            processor.replaceAttributionIndex(index)
        }
        let undecodable = processor.undecodable
        processor.process(batch, handler: handler)
        counters.undecodable.add(processor.undecodable - undecodable, ordering: .relaxed)
    }
}
