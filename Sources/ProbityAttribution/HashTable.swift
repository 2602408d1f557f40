/// An open-addressing table from 64-bit keys that are already good hashes (the path index's
/// FNV keys) to 32-bit values: no rehashing of the key, linear probing over one flat array of
/// key-value slots (one cache miss per lookup). Key 0 marks an empty slot; a key that hashes to 0
/// is stored as 1.
struct HashTable: Sendable {
    private struct Slot {
        var key: UInt64
        var value: UInt32
    }

    private var slots: [Slot]
    private var mask: Int
    private(set) var count = 0

    init(capacity: Int = 1024) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = [Slot](repeating: Slot(key: 0, value: 0), count: size)
        mask = size - 1
    }

    var isEmpty: Bool { count == 0 }

    @inline(__always)
    private static func stored(_ key: UInt64) -> UInt64 { key == 0 ? 1 : key }

    subscript(key: UInt64) -> UInt32? {
        get {
            let k = Self.stored(key)
            var i = Int(truncatingIfNeeded: k ^ (k >> 31)) & mask
            return slots.withUnsafeBufferPointer { slots in
                while true {
                    let slot = slots[i]
                    if slot.key == k { return slot.value }
                    if slot.key == 0 { return nil }
                    i = (i + 1) & mask
                }
            }
        }
        set {
            guard let newValue else { return }  // removal is not needed by the index
            if (count + 1) * 10 > slots.count * 7 { grow() }
            let k = Self.stored(key)
            var i = Int(truncatingIfNeeded: k ^ (k >> 31)) & mask
            while true {
                if slots[i].key == k { slots[i].value = newValue; return }
                if slots[i].key == 0 {
                    slots[i] = Slot(key: k, value: newValue)
                    count += 1
                    return
                }
                i = (i + 1) & mask
            }
        }
    }

    private mutating func grow() {
        let old = slots
        slots = [Slot](repeating: Slot(key: 0, value: 0), count: old.count * 2)
        mask = slots.count - 1
        count = 0
        for slot in old where slot.key != 0 { self[slot.key] = slot.value }
    }
}
