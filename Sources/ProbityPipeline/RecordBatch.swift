/// A batch of raw kernel records, copied out of the BPF ring buffer by the reader thread and
/// handed to the processing thread in one queue operation.
///
/// Records are stored back to back in one byte array with their end offsets beside them, so a
/// batch of thousands of records costs two allocations, reused when the batch is recycled.
public struct RecordBatch: Sendable {
    public private(set) var bytes: [UInt8]
    public private(set) var ends: [Int]

    /// Creates an empty batch with room for about `byteCapacity` bytes.
    public init(byteCapacity: Int = 1 << 18) {
        bytes = []
        bytes.reserveCapacity(byteCapacity)
        ends = []
        ends.reserveCapacity(byteCapacity / 64)
    }

    public var count: Int { ends.count }
    public var isEmpty: Bool { ends.isEmpty }
    public var byteCount: Int { bytes.count }

    /// Copies one record in.
    public mutating func append(_ record: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: record)
        ends.append(bytes.count)
    }

    /// Empties the batch, keeping its storage.
    public mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
    }

    /// Calls `body` with each record in order.
    public func forEach(_ body: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        try bytes.withUnsafeBytes { all in
            var start = 0
            for end in ends {
                try body(UnsafeRawBufferPointer(rebasing: all[start..<end]))
                start = end
            }
        }
    }
}
