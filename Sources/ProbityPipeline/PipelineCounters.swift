import Synchronization

/// Counters of what user space received, and of anything it dropped or could not decode.
/// Updated by the pipeline's threads, read by anyone (status, `probity trace` at exit).
public final class PipelineCounters: Sendable {
    /// Records copied out of the ring buffer.
    public let received = Atomic<UInt64>(0)
    /// Batches handed from the reader to the processing thread.
    public let batches = Atomic<UInt64>(0)
    /// Records dropped in user space. The reader never drops (it waits for the processing
    /// thread and lets the ring absorb bursts, where the kernel counts what it cannot reserve);
    /// kept so that status shows every place a record could be lost.
    public let dropped = Atomic<UInt64>(0)
    /// Records that could not be decoded.
    public let undecodable = Atomic<UInt64>(0)
    /// Times the reader waited because the processing thread was behind.
    public let backPressureWaits = Atomic<UInt64>(0)

    public init() {}

    /// A plain copy of the counters.
    public var snapshot: Snapshot {
        Snapshot(
            received: received.load(ordering: .relaxed), batches: batches.load(ordering: .relaxed),
            dropped: dropped.load(ordering: .relaxed), undecodable: undecodable.load(ordering: .relaxed),
            backPressureWaits: backPressureWaits.load(ordering: .relaxed))
    }

    public struct Snapshot: Sendable, Hashable {
        public var received: UInt64
        public var batches: UInt64
        public var dropped: UInt64
        public var undecodable: UInt64
        public var backPressureWaits: UInt64
    }
}
