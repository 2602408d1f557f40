/// Paths, each with a 32-bit value, stored compactly and found by comparing bytes: the storage of
/// ``PathIndex``'s file entries and of ``DigestIndex``.
///
/// A hash of the path only says where to look: a lookup accepts an entry when its stored path is
/// equal to the looked-up one, and two different paths with the same hash are two entries. So a
/// path crafted to collide with a package's file finds nothing (or its own entry), never the file's.
///
/// Storage. Each directory (the bytes up to and including the last `/`) is stored once, in one
/// byte array, and found through a small table of its own; its offset in that array is its
/// number. Each path is one 24-byte slot of an open-addressing table (linear probing): the
/// directory's number, the value, and the file name, inline when it has at most 15 bytes,
/// otherwise its first 8 bytes, its length and where the rest is stored in a third byte array.
///
/// Equality is exact: a path's directory is looked up by comparing its bytes with the stored
/// directories' (so equal numbers mean equal directories), and its name is compared with the
/// slot's name bytes (and the stored rest of a long name), lengths included. A hit on a name of
/// at most 15 bytes reads one slot from the large table, and the directory table, which is small
/// (one entry per directory) and read independently of the slot; a path whose directory holds
/// no entry is a miss without reading the large table. Lookups allocate nothing.
struct PathTable: Sendable {
    /// One path: 24 bytes.
    private struct Slot {
        /// The directory's number + 1 (0 marks an empty slot) in the low 32 bits, the value in
        /// the high 32.
        var head: UInt64
        /// See ``Name``.
        var name0: UInt64
        var name1: UInt64

        static let empty = Slot(head: 0, name0: 0, name1: 0)
    }

    /// A file name (the bytes after the last `/`) as two words.
    ///
    /// Up to 15 bytes: the bytes, zero-padded (``word(_:_:_:)``), in `w0` (bytes 0..<8) and the
    /// low 56 bits of `w1` (bytes 8..<15), and the length in the top byte of `w1`. Longer: the
    /// first 8 bytes in `w0`; in `w1`, bit 63 set, the length in bits 32..<63 and, in a slot,
    /// the offset of bytes 8... in ``names`` in the low 32 bits. Two short names have the same
    /// words only when their lengths and bytes are equal; a short name's `w1` never has bit 63.
    private struct Name {
        var w0: UInt64
        var w1: UInt64
        /// The bits of `w1` that two equal names share (all but a long name's offset).
        var mask: UInt64
        var isLong: Bool { mask != .max }

        static let longFlag: UInt64 = 1 << 63
        static let maxShort = 15

        @inline(__always)
        init(_ path: UnsafeRawBufferPointer, from start: Int) {
            let length = path.count - start
            if length <= Self.maxShort {
                w0 = PathTable.word(path, start, start + min(length, 8))
                w1 = PathTable.word(path, start + min(length, 8), path.count) | UInt64(length) << 56
                mask = .max
            } else {
                w0 = PathTable.word(path, start, start + 8)
                w1 = Self.longFlag | UInt64(length) << 32
                mask = 0xffff_ffff_0000_0000
            }
        }
    }

    private var slots = [Slot](repeating: .empty, count: 16)
    /// Bytes 8... of the names longer than 15 bytes.
    private var names: [UInt8] = []
    /// Per directory: its hash state (8 bytes, see ``absorb(_:_:_:_:)``), its length (4 bytes)
    /// and its bytes, which start at the directory's number.
    private var directoryBytes: [UInt8] = []
    /// Directory key → the directory's number, with its first bytes inline.
    private var directories = DirectoryTable()
    /// The directory of the previous insertion: files come grouped by directory.
    private var lastDirectory: UInt32?
    /// Keys are `hash & keyMask`: a test hook (0 makes every path and every directory collide).
    var keyMask: UInt64 = .max

    /// The number of distinct paths stored.
    private(set) var count = 0

    init() {}

    /// The value stored for `path`, or nil.
    @inline(__always)
    func value(_ path: UnsafeRawBufferPointer) -> UInt32? {
        find(path).map { value(at: $0) }
    }

    /// The slot of `path`, inserting it with `value` when it is not stored yet; `inserted` says
    /// which. Use ``value(at:)`` and ``setValue(_:at:)`` on the slot before the next insertion.
    mutating func slot(for path: UnsafeRawBufferPointer, inserting value: UInt32) -> (index: Int, inserted: Bool) {
        if let index = find(path) { return (index, false) }
        guard names.count + path.count < Int(UInt32.max), directoryBytes.count + path.count + 12 < Int(UInt32.max) - 1,
              path.count < Int(Int32.max) else {
            preconditionFailure("path table: more than 4 GiB of paths")
        }
        let slash = Self.lastSlash(path)
        let directory = intern(path, slash)
        var name = Name(path, from: slash)
        if name.isLong {
            name.w1 |= UInt64(names.count)
            names.append(contentsOf: UnsafeRawBufferPointer(rebasing: path[(slash + 8)...]))
        }
        if (count + 1) * 5 > slots.count * 4 { grow() }
        count += 1
        let slot = Slot(head: UInt64(directory + 1) | UInt64(value) << 32, name0: name.w0, name1: name.w1)
        return (place(slot, key: Self.key(path, slash) & keyMask), true)
    }

    func value(at index: Int) -> UInt32 { UInt32(truncatingIfNeeded: slots[index].head >> 32) }

    mutating func setValue(_ value: UInt32, at index: Int) {
        slots[index].head = slots[index].head & 0xffff_ffff | UInt64(value) << 32
    }

    /// Calls `body` with the bytes of `path` (copying them only when the string's storage is not
    /// contiguous UTF-8, which does not happen for native strings).
    @inline(__always)
    static func withBytes<T>(_ path: String, _ body: (UnsafeRawBufferPointer) -> T) -> T {
        if let result = path.utf8.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0)) }) { return result }
        var copy = path
        return copy.withUTF8 { body(UnsafeRawBufferPointer($0)) }
    }

    /// Whether two byte ranges are equal (inline, eight bytes at a time: paths are short).
    @inline(__always)
    static func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        let n = a.count
        guard n == b.count else { return false }
        var i = 0
        while i + 8 <= n {
            if a.loadUnaligned(fromByteOffset: i, as: UInt64.self) != b.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
            i += 8
        }
        while i < n {
            if a[i] != b[i] { return false }
            i += 1
        }
        return true
    }

    // MARK: - Lookup

    @inline(__always)
    private func find(_ path: UnsafeRawBufferPointer) -> Int? {
        guard path.count < Int(Int32.max) else { return nil }  // never stored (and ``Name`` needs it)
        let slash = Self.lastSlash(path)
        let directoryState = Self.absorb(Self.seed, path, 0, slash)
        let key = Self.finish(Self.absorb(directoryState, path, slash, path.count), path.count) & keyMask
        return slots.withUnsafeBufferPointer { slots in
            var i = Self.start(key, slots.count)
            // The first slot is read before the directory is looked up, so that the two reads
            // (from different tables) overlap.
            var slot = slots[i]
            guard let directory = directory(path, slash, key: Self.finish(directoryState, slash) & keyMask) else { return nil }
            let name = Name(path, from: slash)
            let head = UInt64(directory + 1)
            while true {
                if slot.head & 0xffff_ffff == head, slot.name0 == name.w0, slot.name1 & name.mask == name.w1,
                   !name.isLong || restEqual(slot.name1, path, slash) {
                    return i
                }
                if slot.head == 0 { return nil }
                i += 1
                if i == slots.count { i = 0 }
                slot = slots[i]
            }
        }
    }

    /// Whether bytes 8... of the long name in `path` from `start` equal those stored at the
    /// offset in `w1` (whose length has been compared).
    private func restEqual(_ w1: UInt64, _ path: UnsafeRawBufferPointer, _ start: Int) -> Bool {
        let offset = Int(truncatingIfNeeded: w1 & 0xffff_ffff)
        let rest = UnsafeRawBufferPointer(rebasing: path[(start + 8)...])
        return names.withUnsafeBytes { Self.equal(UnsafeRawBufferPointer(rebasing: $0[offset..<offset + rest.count]), rest) }
    }

    /// The number of the directory stored with exactly the bytes `path[0..<end]`, or nil.
    @inline(__always)
    private func directory(_ path: UnsafeRawBufferPointer, _ end: Int, key: UInt64) -> UInt32? {
        directories.find(path, end, key: key) { number in
            directoryBytes.withUnsafeBytes { stored in
                let start = Int(number) + DirectoryTable.inline
                return Self.equal(UnsafeRawBufferPointer(rebasing: stored[start..<Int(number) + end]),
                                  UnsafeRawBufferPointer(rebasing: path[DirectoryTable.inline..<end]))
            }
        }
    }

    // MARK: - Insertion

    /// The number of the directory `path[0..<end]`, adding it if new.
    private mutating func intern(_ path: UnsafeRawBufferPointer, _ end: Int) -> UInt32 {
        let directory = UnsafeRawBufferPointer(rebasing: path[0..<end])
        if let last = lastDirectory, stored(last, equals: directory) { return last }
        let state = Self.absorb(Self.seed, path, 0, end)
        let key = Self.finish(state, end) & keyMask
        if let found = self.directory(path, end, key: key) {
            lastDirectory = found
            return found
        }
        withUnsafeBytes(of: state.littleEndian) { directoryBytes.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(end).littleEndian) { directoryBytes.append(contentsOf: $0) }
        let number = UInt32(directoryBytes.count)
        directoryBytes.append(contentsOf: directory)
        directories.insert(path, end, number: number, key: key) { number in
            directoryBytes.withUnsafeBytes { stored in
                let start = Int(number)
                let length = Int(UInt32(littleEndian: stored.loadUnaligned(fromByteOffset: start - 4, as: UInt32.self)))
                let state = UInt64(littleEndian: stored.loadUnaligned(fromByteOffset: start - 12, as: UInt64.self))
                return Self.finish(state, length) & keyMask
            }
        }
        lastDirectory = number
        return number
    }

    private func stored(_ number: UInt32, equals directory: UnsafeRawBufferPointer) -> Bool {
        directoryBytes.withUnsafeBytes { stored in
            let start = Int(number)
            let length = Int(UInt32(littleEndian: stored.loadUnaligned(fromByteOffset: start - 4, as: UInt32.self)))
            return length == directory.count
                && Self.equal(UnsafeRawBufferPointer(rebasing: stored[start..<start + length]), directory)
        }
    }

    /// Puts `slot` in the first free place from its key's start; returns where.
    private mutating func place(_ slot: Slot, key: UInt64) -> Int {
        slots.withUnsafeMutableBufferPointer { slots in
            var i = Self.start(key, slots.count)
            while slots[i].head != 0 {
                i += 1
                if i == slots.count { i = 0 }
            }
            slots[i] = slot
            return i
        }
    }

    /// 1.5 times the slots (at most 80 % are used; from 53 % after growing). The key of each
    /// stored path is computed again from its directory's stored hash state and its name.
    private mutating func grow() {
        let old = slots
        slots = [Slot](repeating: .empty, count: old.count + old.count / 2)
        for slot in old where slot.head != 0 {
            _ = place(slot, key: storedKey(slot) & keyMask)
        }
    }

    /// The key of the path stored in `slot`: what ``key(_:_:)`` gives for it (``absorb(_:_:_:_:)``
    /// takes the name eight bytes at a time from its start, which are `name0`, then the low 56
    /// bits of a short name's `name1` or the stored rest of a long one).
    private func storedKey(_ slot: Slot) -> UInt64 {
        directoryBytes.withUnsafeBytes { stored in
            let number = Int(truncatingIfNeeded: slot.head & 0xffff_ffff) - 1
            var h = UInt64(littleEndian: stored.loadUnaligned(fromByteOffset: number - 12, as: UInt64.self))
            let directoryLength = Int(UInt32(littleEndian: stored.loadUnaligned(fromByteOffset: number - 4, as: UInt32.self)))
            let length: Int
            if slot.name1 & Name.longFlag == 0 {
                length = Int(slot.name1 >> 56)
                if length > 0 { h = Self.step(h, slot.name0) }
                if length > 8 { h = Self.step(h, slot.name1 & 0x00ff_ffff_ffff_ffff) }
            } else {
                length = Int(truncatingIfNeeded: (slot.name1 >> 32) & 0x7fff_ffff)
                let offset = Int(truncatingIfNeeded: slot.name1 & 0xffff_ffff)
                h = Self.step(h, slot.name0)
                h = names.withUnsafeBytes { Self.absorb(h, $0, offset, offset + length - 8) }
            }
            return Self.finish(h, directoryLength + length)
        }
    }

    // MARK: - Hashing and words

    /// The index just after the last `/` (0 when there is none).
    @inline(__always)
    private static func lastSlash(_ path: UnsafeRawBufferPointer) -> Int {
        var i = path.count
        while i > 0 {
            if path[i - 1] == UInt8(ascii: "/") { return i }
            i -= 1
        }
        return 0
    }

    /// Bytes `start..<end` (at most 8) of `bytes` as a word, the first in the low bits, zero-padded.
    @inline(__always)
    static func word(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> UInt64 {
        let n = end - start
        if n == 8 { return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: start, as: UInt64.self)) }
        if n <= 0 { return 0 }
        if end >= 8 {
            return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: end - 8, as: UInt64.self)) >> UInt64(64 - 8 * n)
        }
        if bytes.count >= start + 8 {
            return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: start, as: UInt64.self)) & (1 << UInt64(8 * n) - 1)
        }
        var w: UInt64 = 0
        for i in 0..<n { w |= UInt64(bytes[start + i]) << UInt64(8 * i) }
        return w
    }

    private static let seed: UInt64 = 0xcbf2_9ce4_8422_2325

    @inline(__always)
    private static func step(_ h: UInt64, _ w: UInt64) -> UInt64 {
        let m = (h ^ w) &* 0x9e37_79b9_7f4a_7c15
        return m ^ (m >> 29)
    }

    /// `h` after bytes `start..<end`, eight at a time from `start` (the last word zero-padded).
    @inline(__always)
    private static func absorb(_ h: UInt64, _ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> UInt64 {
        var h = h
        var i = start
        while i + 8 <= end {
            h = step(h, UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)))
            i += 8
        }
        if i < end { h = step(h, word(bytes, i, end)) }
        return h
    }

    /// A key from a hash state and the length hashed (murmur3's finaliser).
    @inline(__always)
    fileprivate static func finish(_ h: UInt64, _ length: Int) -> UInt64 {
        var k = h ^ UInt64(truncatingIfNeeded: length)
        k = (k ^ (k >> 33)) &* 0xff51_afd7_ed55_8ccd
        k = (k ^ (k >> 33)) &* 0xc4ce_b9fe_1a85_ec53
        return k ^ (k >> 33)
    }

    /// Where `key` starts probing among `count` slots (spread first, as keys may be masked).
    @inline(__always)
    fileprivate static func start(_ key: UInt64, _ count: Int) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9e37_79b9_7f4a_7c15).multipliedFullWidth(by: UInt64(count)).high)
    }

    /// The key of the path whose last `/` ends at `slash`.
    @inline(__always)
    private static func key(_ path: UnsafeRawBufferPointer, _ slash: Int) -> UInt64 {
        finish(absorb(absorb(seed, path, 0, slash), path, slash, path.count), path.count)
    }

    /// A path's key before masking: unkeyed, it only spreads entries over the table; equality is
    /// always decided by comparing the path.
    static func hash(_ path: UnsafeRawBufferPointer) -> UInt64 {
        key(path, lastSlash(path))
    }
}

/// The directories of a ``PathTable``: open addressing (linear probing) over 64-byte slots that
/// hold a directory's number, its length and its first 56 bytes, so that finding a directory
/// usually reads one cache line. Longer directories compare the rest with their stored bytes.
private struct DirectoryTable {
    /// One directory: 64 bytes.
    struct Slot {
        /// The number + 1 (0 marks an empty slot) in the low 32 bits, the length in the high 32.
        var head: UInt64 = 0
        var bytes: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0)
    }

    /// How many bytes of a directory its slot holds.
    static let inline = 56

    private var slots = [Slot](repeating: Slot(), count: 64)
    private var count = 0

    /// The number of the directory `path[0..<end]`; `rest` compares bytes 56..<end when longer.
    @inline(__always)
    func find(_ path: UnsafeRawBufferPointer, _ end: Int, key: UInt64, rest: (UInt32) -> Bool) -> UInt32? {
        let head = UInt64(end) << 32
        return slots.withUnsafeBufferPointer { slots in
            var i = PathTable.start(key, slots.count)
            while true {
                if slots[i].head == 0 { return nil }
                if slots[i].head & 0xffff_ffff_0000_0000 == head, Self.inlineEqual(slots[i], path, end) {
                    let number = UInt32(truncatingIfNeeded: slots[i].head) &- 1
                    if end <= Self.inline || rest(number) { return number }
                }
                i += 1
                if i == slots.count { i = 0 }
            }
        }
    }

    /// Whether the slot's inline bytes are the first (up to 56) bytes of `path[0..<end]`.
    @inline(__always)
    private static func inlineEqual(_ slot: Slot, _ path: UnsafeRawBufferPointer, _ end: Int) -> Bool {
        withUnsafeBytes(of: slot.bytes) { stored in
            let n = min(end, inline)
            var i = 0
            while i < n {
                let w = PathTable.word(path, i, min(i + 8, n))
                if UInt64(littleEndian: stored.loadUnaligned(fromByteOffset: i, as: UInt64.self)) != w { return false }
                i += 8
            }
            return true
        }
    }

    /// Adds the directory `path[0..<end]`, not stored yet, as `number`; `key(number)` gives the key
    /// of a stored directory when the table grows.
    mutating func insert(_ path: UnsafeRawBufferPointer, _ end: Int, number: UInt32, key: UInt64, rekey: (UInt32) -> UInt64) {
        if (count + 1) * 5 > slots.count * 4 {
            let old = slots
            slots = [Slot](repeating: Slot(), count: old.count + old.count / 2)
            for slot in old where slot.head != 0 {
                place(slot, key: rekey(UInt32(truncatingIfNeeded: slot.head) &- 1))
            }
        }
        count += 1
        var slot = Slot(head: UInt64(number) + 1 | UInt64(end) << 32)
        withUnsafeMutableBytes(of: &slot.bytes) { bytes in
            var i = 0
            let n = min(end, Self.inline)
            while i < n {
                bytes.storeBytes(of: PathTable.word(path, i, min(i + 8, n)).littleEndian, toByteOffset: i, as: UInt64.self)
                i += 8
            }
        }
        place(slot, key: key)
    }

    private mutating func place(_ slot: Slot, key: UInt64) {
        slots.withUnsafeMutableBufferPointer { slots in
            var i = PathTable.start(key, slots.count)
            while slots[i].head != 0 {
                i += 1
                if i == slots.count { i = 0 }
            }
            slots[i] = slot
        }
    }
}
