import ProbityAttribution
import ProbityEvents
import ProbityPipeline
import ProbityProcess

/// What the processing thread does with each raw record: decode it, update the process table,
/// attribute it to a package, and hand it on with what is known of its process.
///
/// ``Monitor`` runs one on its processing thread; the pipeline benchmark runs one on synthetic
/// records, so that the per-event cost of this stage can be measured without a kernel.
///
/// A class, so that a handler may read ``table`` (through ``Monitor/processTable``) while a batch
/// is being processed: a mutating method of a struct held in a property would keep exclusive
/// access to all of it for the whole batch.
public final class EventProcessor {
    /// The process table, kept from fork, exec and exit.
    public private(set) var table: ProcessTable
    private var attributor: Attributor?
    /// Events decoded and handed on, indexed by `EventKind.rawValue`.
    public private(set) var delivered: [UInt64]
    /// Records that could not be decoded.
    public private(set) var undecodable: UInt64 = 0

    /// A processor starting from `table`, attributing with `attributionIndex` (nil: no
    /// attribution); `workspace` is `probity run`'s command, seeded as the workspace.
    public init(table: ProcessTable = ProcessTable(), attributionIndex: PathIndex?, workspace: WorkspaceRoot? = nil) {
        self.table = table
        attributor = attributionIndex.map { Attributor(index: $0) }
        if let workspace { attributor?.seedWorkspace(pid: workspace.pid, command: workspace.command) }
        delivered = [UInt64](repeating: 0, count: Int(EventKind.allCases.map(\.rawValue).max() ?? 0) + 1)
    }

    /// Attributes with `index` from the next record on; processes keep their attributions.
    public func replaceAttributionIndex(_ index: PathIndex) {
        if attributor == nil { attributor = Attributor(index: index) } else { attributor?.replaceIndex(index) }
    }

    /// Processes every record of `batch` in order, calling `handler` once per decoded event;
    /// then lets the table forget processes that exited before the newest event.
    public func process(_ batch: RecordBatch, handler: (Event, EventContext) -> Void) {
        var newest: UInt64 = 0
        batch.forEach { record in
            let event: Event
            do {
                event = try EventDecoder.decode(record)
            } catch {
                undecodable += 1
                return
            }
            table.apply(event)
            delivered[Int(event.kind.rawValue)] &+= 1
            newest = max(newest, event.header.bootTimeNanoseconds)
            var caller: Attribution?
            if case .exec = event { caller = attributor?[event.pid] }
            let attribution = attributor?.apply(event, table: table)
            handler(event, EventContext(process: table[event.pid], attribution: attribution, caller: caller))
        }
        if newest > 0 { table.forgetExited(before: newest) }
    }
}
