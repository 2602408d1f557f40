import Synchronization

/// A bounded single-producer, single-consumer queue, lock-free.
///
/// One thread calls ``push(_:)``, one other thread calls ``pop()``. Each side keeps a cached copy
/// of the other side's index so that it touches the shared cache line only when its cached view
/// says the queue is full (producer) or empty (consumer).
public final class SPSCQueue<Element>: @unchecked Sendable {
    // Safety: `slots` are written only by the producer before it publishes `tail` (release),
    // and read only by the consumer after it observes `tail` (acquire), and the other way round
    // for `head`. The cached indices are each owned by one side.
    private let slots: UnsafeMutablePointer<Element?>
    private let mask: Int
    private let head = Atomic<Int>(0)  // next slot to read; written by the consumer
    private let tail = Atomic<Int>(0)  // next slot to write; written by the producer
    private var cachedHead = 0          // producer's view of head
    private var cachedTail = 0          // consumer's view of tail

    /// The number of elements the queue holds at most (a power of two).
    public let capacity: Int

    /// Creates a queue for at least `minimumCapacity` elements.
    public init(minimumCapacity: Int) {
        var size = 2
        while size < minimumCapacity { size <<= 1 }
        capacity = size
        mask = size - 1
        slots = .allocate(capacity: size)
        slots.initialize(repeating: nil, count: size)
    }

    deinit {
        slots.deinitialize(count: capacity)
        slots.deallocate()
    }

    /// Appends `element`; returns false (and leaves the queue unchanged) when it is full.
    /// Producer side only.
    @discardableResult
    public func push(_ element: Element) -> Bool {
        let t = tail.load(ordering: .relaxed)
        if t - cachedHead >= capacity {
            cachedHead = head.load(ordering: .acquiring)
            if t - cachedHead >= capacity { return false }
        }
        slots[t & mask] = element
        tail.store(t + 1, ordering: .releasing)
        return true
    }

    /// Removes and returns the oldest element, or nil when empty. Consumer side only.
    public func pop() -> Element? {
        let h = head.load(ordering: .relaxed)
        if h == cachedTail {
            cachedTail = tail.load(ordering: .acquiring)
            if h == cachedTail { return nil }
        }
        let element = slots[h & mask].take()
        head.store(h + 1, ordering: .releasing)
        return element
    }

    /// Elements waiting, as seen at this instant (approximate while both sides run).
    public var count: Int { tail.load(ordering: .acquiring) - head.load(ordering: .acquiring) }
}
