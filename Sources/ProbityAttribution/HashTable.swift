/// An open-addressing table from 64-bit keys that are already good hashes (the path index's
/// FNV keys) to a 32-bit value and a 32-bit `aux` (where the key's path is stored): no rehashing
/// of the key, linear probing over one flat array of 16-byte slots (one cache miss per probe).
/// Key 0 marks an empty slot; a key that hashes to 0 is stored as 1.
///
/// A key is only a hint. Several slots may hold the same key (different paths with the same
/// hash); a lookup walks the probe chain and asks the caller, through `matches`, which of the
/// slots with that key is the one it wants, by comparing the stored path.
struct HashTable: Sendable {
    struct Slot {
        var key: UInt64
        var value: UInt32
        var aux: UInt32
    }

    private var slots: [Slot]
    private var mask: Int
    private(set) var count = 0

    init(capacity: Int = 1024) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = [Slot](repeating: Slot(key: 0, value: 0, aux: 0), count: size)
        mask = size - 1
    }

    var isEmpty: Bool { count == 0 }

    @inline(__always)
    private static func stored(_ key: UInt64) -> UInt64 { key == 0 ? 1 : key }

    @inline(__always)
    private func start(_ k: UInt64) -> Int { Int(truncatingIfNeeded: k ^ (k >> 31)) & mask }

    /// The index of the first slot holding `key` for which `matches(value, aux)` is true.
    @inline(__always)
    func find(_ key: UInt64, where matches: (UInt32, UInt32) -> Bool) -> Int? {
        let k = Self.stored(key)
        var i = start(k)
        return slots.withUnsafeBufferPointer { slots in
            while true {
                let slot = slots[i]
                if slot.key == k, matches(slot.value, slot.aux) { return i }
                if slot.key == 0 { return nil }
                i = (i + 1) & mask
            }
        }
    }

    /// The value of the first slot holding `key` for which `matches(value, aux)` is true.
    @inline(__always)
    func value(_ key: UInt64, where matches: (UInt32, UInt32) -> Bool) -> UInt32? {
        find(key, where: matches).map { slots[$0].value }
    }

    /// The value stored in slot `index` (from ``find(_:where:)``).
    func value(at index: Int) -> UInt32 { slots[index].value }

    /// Replaces the value in slot `index` (from ``find(_:where:)``, with no insertion since).
    mutating func setValue(_ value: UInt32, at index: Int) { slots[index].value = value }

    /// Adds a slot for `key`, even when slots with the same key exist (a different path with the
    /// same hash): the caller has checked with ``find(_:where:)`` that its path is not stored.
    /// Returns the slot's index.
    @discardableResult
    mutating func insert(_ key: UInt64, value: UInt32, aux: UInt32) -> Int {
        if (count + 1) * 10 > slots.count * 7 { grow() }
        count += 1
        return place(Slot(key: Self.stored(key), value: value, aux: aux))
    }

    @discardableResult
    private mutating func place(_ slot: Slot) -> Int {
        var i = start(slot.key)
        while slots[i].key != 0 { i = (i + 1) & mask }
        slots[i] = slot
        return i
    }

    private mutating func grow() {
        let old = slots
        slots = [Slot](repeating: Slot(key: 0, value: 0, aux: 0), count: old.count * 2)
        mask = slots.count - 1
        for slot in old where slot.key != 0 { place(slot) }
    }
}
