/// Paths, each with a 32-bit value, stored compactly and found by comparing bytes: the storage of
/// ``PathIndex``'s file entries and of ``DigestIndex``.
///
/// A 64-bit hash of the path only says where to look: a lookup accepts an entry when its stored
/// bytes equal the path's, and two different paths with the same hash are two entries. So a path
/// crafted to collide with a package's file finds nothing (or its own entry), never the file's.
///
/// Storage: each directory (with its trailing `/`) is stored once, back to back in one byte
/// array; each path is a record in a second byte array: the directory's offset in the first
/// (4 bytes), its length and the length of the rest (LEB128 each) and the rest's bytes. The hash
/// table's slot holds the record's offset. A lookup allocates nothing; a hit reads the slot, the
/// record and the directory.
struct PathTable: Sendable {
    private var table = HashTable()
    private var records: [UInt8] = []
    private var directoryBytes: [UInt8] = []
    /// Directory hash → (offset, length) in ``directoryBytes``, to store each directory once.
    private var directoryTable = HashTable(capacity: 64)
    /// The directory of the previous insertion (offset, length): files come grouped by directory.
    private var lastDirectory: (offset: UInt32, length: UInt32)?
    /// Keys are `hash & keyMask`: a test hook (0 makes every path collide).
    var keyMask: UInt64 = .max

    /// The number of distinct paths stored.
    var count: Int { table.count }

    init() {}

    /// The value stored for `path`, or nil.
    @inline(__always)
    func value(_ path: UnsafeRawBufferPointer) -> UInt32? {
        find(path).map { table.value(at: $0) }
    }

    /// The slot of `path`, inserting it with `value` when it is not stored yet; `inserted` says
    /// which. Use ``value(at:)`` and ``setValue(_:at:)`` on the slot before the next insertion.
    mutating func slot(for path: UnsafeRawBufferPointer, inserting value: UInt32) -> (index: Int, inserted: Bool) {
        if let index = find(path) { return (index, false) }
        let slash = Self.lastSlash(path)
        guard records.count + path.count + 14 < Int(UInt32.max), directoryBytes.count + path.count < Int(UInt32.max) else {
            preconditionFailure("path table: more than 4 GiB of paths")
        }
        let directory = intern(UnsafeRawBufferPointer(rebasing: path[0..<slash]))
        let rest = UnsafeRawBufferPointer(rebasing: path[slash...])
        let offset = UInt32(records.count)
        withUnsafeBytes(of: directory.offset) { records.append(contentsOf: $0) }
        appendLEB128(Int(directory.length))
        appendLEB128(rest.count)
        records.append(contentsOf: rest)
        return (table.insert(Self.hash(path) & keyMask, value: value, aux: offset), true)
    }

    private mutating func appendLEB128(_ value: Int) {
        var value = value
        while value >= 0x80 {
            records.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        records.append(UInt8(value))
    }

    @inline(__always)
    private static func readLEB128(_ bytes: UnsafeRawBufferPointer, _ i: inout Int) -> Int {
        var value = 0
        var shift = 0
        while true {
            let byte = bytes[i]
            i += 1
            value |= Int(byte & 0x7f) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
    }

    func value(at index: Int) -> UInt32 { table.value(at: index) }

    mutating func setValue(_ value: UInt32, at index: Int) { table.setValue(value, at: index) }

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

    @inline(__always)
    private func find(_ path: UnsafeRawBufferPointer) -> Int? {
        records.withUnsafeBytes { records in
            directoryBytes.withUnsafeBytes { directoryBytes in
                table.find(Self.hash(path) & keyMask) { _, offset in
                    var i = Int(offset)
                    let start = Int(records.loadUnaligned(fromByteOffset: i, as: UInt32.self))
                    i += 4
                    let directoryLength = Self.readLEB128(records, &i)
                    let length = Self.readLEB128(records, &i)
                    guard directoryLength + length == path.count else { return false }
                    return Self.equal(UnsafeRawBufferPointer(rebasing: records[i..<i + length]),
                                      UnsafeRawBufferPointer(rebasing: path[directoryLength...]))
                        && Self.equal(UnsafeRawBufferPointer(rebasing: directoryBytes[start..<start + directoryLength]),
                                      UnsafeRawBufferPointer(rebasing: path[0..<directoryLength]))
                }
            }
        }
    }

    /// Where `directory` (bytes up to and including the last `/`) is stored, adding it if new.
    private mutating func intern(_ directory: UnsafeRawBufferPointer) -> (offset: UInt32, length: UInt32) {
        if let last = lastDirectory, stored(last.offset, last.length, equals: directory) { return last }
        let key = Self.hash(directory) & keyMask
        let found: (offset: UInt32, length: UInt32)
        if let slot = directoryTable.find(key, where: { offset, length in stored(offset, length, equals: directory) }) {
            found = (directoryTable.value(at: slot), UInt32(directory.count))
        } else {
            found = (UInt32(directoryBytes.count), UInt32(directory.count))
            directoryBytes.append(contentsOf: directory)
            directoryTable.insert(key, value: found.offset, aux: found.length)
        }
        lastDirectory = found
        return found
    }

    private func stored(_ offset: UInt32, _ length: UInt32, equals directory: UnsafeRawBufferPointer) -> Bool {
        guard Int(length) == directory.count else { return false }
        return directoryBytes.withUnsafeBytes {
            Self.equal(UnsafeRawBufferPointer(rebasing: $0[Int(offset)..<Int(offset) + Int(length)]), directory)
        }
    }

    /// The index just after the last `/` (0 when there is none).
    private static func lastSlash(_ path: UnsafeRawBufferPointer) -> Int {
        var i = path.count
        while i > 0 {
            if path[i - 1] == UInt8(ascii: "/") { return i }
            i -= 1
        }
        return 0
    }

    /// FNV-1a-style mixing of the bytes, eight at a time. Unkeyed: it only spreads entries over
    /// the table; equality is always decided by comparing the bytes.
    @inline(__always)
    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        let prime: UInt64 = 0x100_0000_01b3
        var i = 0
        while i + 8 <= bytes.count {
            h = (h ^ bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* prime
            h ^= h >> 29
            i += 8
        }
        while i < bytes.count {
            h = (h ^ UInt64(bytes[i])) &* prime
            i += 1
        }
        return h ^ (h >> 32)
    }
}
