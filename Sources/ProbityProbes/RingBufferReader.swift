#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import CProbityBPF
import ProbityPipeline

/// Drains the BPF ring buffer on a dedicated thread (never the cooperative pool) into
/// ``RecordBatch``es, handed to the consumer through a lock-free ``SPSCQueue``.
///
/// The kernel side does not wake the reader per record (`BPF_RB_NO_WAKEUP`, with a forced
/// wake-up once `wakeupBytes` are pending): the reader polls every `pollInterval` and drains
/// everything that is there. When the consumer falls behind, the reader waits for it rather
/// than dropping: the ring buffer absorbs the burst, and what the kernel cannot reserve is
/// counted there, per kind.
public final class RingBufferReader: @unchecked Sendable {
    // Safety: `ring` and `current` are touched only by the reader thread after start();
    // `queue` is SPSC (reader produces, consumer consumes; `recycled` the other way round).

    /// Full batches for the consumer.
    public let queue: SPSCQueue<RecordBatch>
    /// Empty batches handed back by the consumer for reuse.
    public let recycled: SPSCQueue<RecordBatch>
    public let counters: PipelineCounters
    /// Signalled after each batch handed on, so that the consumer can sleep until there is work
    /// rather than waking on a timer.
    public let batchReady = DispatchSemaphore(value: 0)
    private let pollMilliseconds: Int32
    private var ring: OpaquePointer?
    private var current = RecordBatch()
    private let running = Atomic<Bool>(false)
    private let finished = Atomic<Bool>(false)
    /// Signalled once by the thread as it ends (a stop waits for it; nothing spins).
    private let ended = DispatchSemaphore(value: 0)
    private var thread: Thread?

    /// Creates a reader of the ring buffer map `mapFD`.
    public init(mapFD: Int32, counters: PipelineCounters, pollMilliseconds: Int32 = 5, queueCapacity: Int = 64) throws(ProbeError) {
        self.counters = counters
        self.pollMilliseconds = pollMilliseconds
        queue = SPSCQueue(minimumCapacity: queueCapacity)
        recycled = SPSCQueue(minimumCapacity: queueCapacity)
        let context = Unmanaged.passUnretained(self).toOpaque()
        guard let rb = ring_buffer__new(mapFD, { ctx, data, size in
            guard let ctx, let data else { return 0 }
            let reader = Unmanaged<RingBufferReader>.fromOpaque(ctx).takeUnretainedValue()
            reader.current.append(UnsafeRawBufferPointer(start: data, count: size))
            return 0
        }, context, nil) else {
            throw ProbeError(operation: "create the ring buffer reader", errno: errno)
        }
        ring = rb
    }

    deinit {
        stop()
        if let ring { ring_buffer__free(ring) }
    }

    /// Starts the reader thread.
    public func start() {
        guard !running.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let thread = Thread { [self] in self.run() }
        thread.name = "probity-ring-reader"
        thread.qualityOfService = .userInteractive
        self.thread = thread
        thread.start()
    }

    /// Asks the reader to drain what is left and stop; returns once it has.
    public func stop() {
        guard running.exchange(false, ordering: .acquiringAndReleasing) else { return }
        ended.wait()
    }

    /// Whether the thread has drained the ring for the last time and stopped.
    public var isFinished: Bool { finished.load(ordering: .acquiring) }

    private func run() {
        guard let ring else { finished.store(true, ordering: .releasing); ended.signal(); return }
        while running.load(ordering: .relaxed) {
            _ = ring_buffer__poll(ring, pollMilliseconds)
            _ = ring_buffer__consume(ring)
            handOff()
        }
        _ = ring_buffer__consume(ring)
        handOff()
        finished.store(true, ordering: .releasing)
        ended.signal()
        batchReady.signal()
    }

    private func handOff() {
        guard !current.isEmpty else { return }
        counters.received.add(UInt64(current.count), ordering: .relaxed)
        counters.batches.add(1, ordering: .relaxed)
        let next = recycled.pop() ?? RecordBatch()
        var batch = next
        swap(&batch, &current)
        while !queue.push(batch) {
            counters.backPressureWaits.add(1, ordering: .relaxed)
            usleep(200)
        }
        batchReady.signal()
    }
}
