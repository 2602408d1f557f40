#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Paths, each with a 32-bit value, stored compactly and found by comparing bytes: the storage of
/// ``PathIndex``'s file entries and of ``DigestIndex``.
///
/// A 64-bit hash of the path only says where to look: a lookup accepts an entry when its stored
/// bytes equal the path's, and two different paths with the same hash are two entries. So a path
/// crafted to collide with a package's file finds nothing (or its own entry), never the file's.
///
/// Storage: each directory (with its trailing `/`) is stored once, back to back in one byte
/// array; each path is a record in a second byte array: the directory's number (4 bytes), the
/// length of the rest (LEB128) and the rest's bytes. The hash table's slot holds the record's
/// offset. A lookup allocates nothing.
struct PathTable: Sendable {
    private struct Span {
        var offset: UInt32
        var length: UInt32
    }

    private var table = HashTable()
    private var records: [UInt8] = []
    private var directoryBytes: [UInt8] = []
    private var directories: [Span] = []
    private var directoryTable = HashTable(capacity: 64)
    /// The directory of the previous insertion: files come grouped by directory.
    private var lastDirectory: Int?
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
        let directory = intern(UnsafeRawBufferPointer(rebasing: path[0..<slash]))
        let rest = UnsafeRawBufferPointer(rebasing: path[slash...])
        guard let offset = UInt32(exactly: records.count), records.count + rest.count + 9 < Int(UInt32.max) else {
            preconditionFailure("path table: more than 4 GiB of paths")
        }
        withUnsafeBytes(of: UInt32(directory)) { records.append(contentsOf: $0) }
        var length = rest.count
        while length >= 0x80 {
            records.append(UInt8(truncatingIfNeeded: length) | 0x80)
            length >>= 7
        }
        records.append(UInt8(length))
        records.append(contentsOf: rest)
        return (table.insert(Self.hash(path) & keyMask, value: value, aux: offset), true)
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

    /// Whether two byte ranges are equal.
    @inline(__always)
    static func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        guard let x = a.baseAddress, let y = b.baseAddress else { return true }  // both empty
        return memcmp(x, y, a.count) == 0
    }

    @inline(__always)
    private func find(_ path: UnsafeRawBufferPointer) -> Int? {
        records.withUnsafeBytes { records in
            directoryBytes.withUnsafeBytes { directoryBytes in
                directories.withUnsafeBufferPointer { directories in
                    table.find(Self.hash(path) & keyMask) { _, offset in
                        var i = Int(offset)
                        let directory = directories[Int(records.loadUnaligned(fromByteOffset: i, as: UInt32.self))]
                        i += 4
                        var length = 0
                        var shift = 0
                        while true {
                            let byte = records[i]
                            i += 1
                            length |= Int(byte & 0x7f) << shift
                            if byte < 0x80 { break }
                            shift += 7
                        }
                        let directoryLength = Int(directory.length)
                        guard directoryLength + length == path.count else { return false }
                        let start = Int(directory.offset)
                        return Self.equal(UnsafeRawBufferPointer(rebasing: directoryBytes[start..<start + directoryLength]),
                                          UnsafeRawBufferPointer(rebasing: path[0..<directoryLength]))
                            && Self.equal(UnsafeRawBufferPointer(rebasing: records[i..<i + length]),
                                          UnsafeRawBufferPointer(rebasing: path[directoryLength...]))
                    }
                }
            }
        }
    }

    /// The number of `directory` (bytes up to and including the last `/`), adding it if new.
    private mutating func intern(_ directory: UnsafeRawBufferPointer) -> Int {
        if let last = lastDirectory, bytes(ofDirectory: last, equal: directory) { return last }
        let key = Self.hash(directory) & keyMask
        if let slot = directoryTable.find(key, where: { number, _ in bytes(ofDirectory: Int(number), equal: directory) }) {
            let number = Int(directoryTable.value(at: slot))
            lastDirectory = number
            return number
        }
        let number = directories.count
        directories.append(Span(offset: UInt32(directoryBytes.count), length: UInt32(directory.count)))
        directoryBytes.append(contentsOf: directory)
        directoryTable.insert(key, value: UInt32(number), aux: 0)
        lastDirectory = number
        return number
    }

    private func bytes(ofDirectory number: Int, equal directory: UnsafeRawBufferPointer) -> Bool {
        let span = directories[number]
        guard Int(span.length) == directory.count else { return false }
        return directoryBytes.withUnsafeBytes {
            Self.equal(UnsafeRawBufferPointer(rebasing: $0[Int(span.offset)..<Int(span.offset) + Int(span.length)]), directory)
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
