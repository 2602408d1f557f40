/// Path → package: exact file entries, plus package root directories where the longest prefix
/// wins (a file under `node_modules/a/node_modules/b/` belongs to `b`).
///
/// A path is only ever matched by comparing it with a stored path, never by a hash alone (an
/// unkeyed 64-bit hash can be searched for a collision: a script in `/tmp` must not count as
/// pip's code because its path hashes like one of pip's files). File paths are stored compactly
/// (``PathTable``: each directory once, each file as the directory's number and its name, all in
/// two byte arrays); the 64-bit FNV-1a-style hash only says where to look, and two different
/// paths with the same hash are two entries. Roots keep their path; one left-to-right pass over a
/// looked-up path hashes all its directory prefixes, and a root is accepted only when its stored
/// path equals that prefix, which ends at a `/` of the path or is the whole path (so it is a
/// whole-component prefix). Lookups (``ownerID(of:)``, ``owner(of:)``) allocate nothing.
public struct PathIndex: Sendable {
    /// How a path was matched.
    public enum Match: Sendable, Hashable {
        /// The path is listed as a file of the package.
        case file
        /// The path lies under the package's root directory.
        case root(String)
    }

    /// One answer of ``owners(of:)``.
    public struct Owner: Sendable, Hashable {
        public var package: InstalledPackage
        public var match: Match
    }

    /// The packages, by id.
    public var packages: [InstalledPackage] { storage.packages }
    /// Directory aliases, e.g. `/bin` → `/usr/bin` on a merged-/usr system.
    public var aliases: [(alias: String, target: String)] { storage.aliases }
    /// The number of distinct file paths indexed.
    public var fileCount: Int { storage.files.count }

    /// Test hook: keys are `hash & keyMask`, so 0 makes every path and every root collide. Set it
    /// before adding anything.
    var keyMask: UInt64 {
        get { storage.keyMask }
        set {
            unique()
            storage.keyMask = newValue
            storage.files.keyMask = newValue
        }
    }

    /// Everything the index holds, behind one reference: a copy of the index (which reading it
    /// from a global or a class property makes for each call) retains one object instead of ten
    /// arrays. Mutations go through ``unique()`` (copy on write).
    ///
    /// Its properties are not checked for exclusive access at run time (each check is a runtime
    /// call on every lookup): a `Storage` is only mutated through a `PathIndex` that holds the
    /// only reference to it, inside a mutating method, which the compiler checks statically.
    private final class Storage: @unchecked Sendable {  // mutated only while uniquely referenced
        @exclusivity(unchecked) var packages: [InstalledPackage] = []
        /// File path → package id, or ``sharedFlag`` | an index into ``shared``.
        @exclusivity(unchecked) var files = PathTable()
        /// Owner lists for paths that more than one package lists (directories, mostly).
        @exclusivity(unchecked) var shared: [[UInt32]] = []
        /// Root prefix hash → index into ``rootEntries`` (several for different roots with one hash).
        @exclusivity(unchecked) var roots = HashTable(capacity: 64)
        @exclusivity(unchecked) var rootEntries: [(path: String, package: UInt32)] = []
        @exclusivity(unchecked) var aliases: [(alias: String, target: String)] = []
        @exclusivity(unchecked) var aliasBytes: [(alias: [UInt8], target: [UInt8])] = []
        @exclusivity(unchecked) var keyMask: UInt64 = .max

        init() {}

        init(copying other: Storage) {
            packages = other.packages
            files = other.files
            shared = other.shared
            roots = other.roots
            rootEntries = other.rootEntries
            aliases = other.aliases
            aliasBytes = other.aliasBytes
            keyMask = other.keyMask
        }
    }

    private var storage = Storage()

    /// Makes ``storage`` this index's own before a mutation.
    private mutating func unique() {
        if !isKnownUniquelyReferenced(&storage) { storage = Storage(copying: storage) }
    }

    private static let sharedFlag: UInt32 = 1 << 31
    private static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    private static let prime: UInt64 = 0x100_0000_01b3

    public init() {}

    /// Adds a package; returns its id for ``addFile(_:package:)`` and ``addRoot(_:package:)``.
    @discardableResult
    public mutating func add(_ package: InstalledPackage) -> UInt32 {
        unique()
        storage.packages.append(package)
        return UInt32(storage.packages.count - 1)
    }

    /// Records that `path` (absolute) belongs to `package`.
    public mutating func addFile(_ path: String, package: UInt32) {
        unique()
        let storage = self.storage
        let (slot, inserted) = PathTable.withBytes(path) { storage.files.slot(for: $0, inserting: package) }
        guard !inserted else { return }
        let current = storage.files.value(at: slot)
        if current & Self.sharedFlag != 0 {
            let s = Int(current & ~Self.sharedFlag)
            if !storage.shared[s].contains(package) { storage.shared[s].append(package) }
        } else if current != package {
            storage.shared.append([current, package])
            storage.files.setValue(UInt32(storage.shared.count - 1) | Self.sharedFlag, at: slot)
        }
    }

    /// Records that everything under the directory `path` belongs to `package` unless a longer
    /// root or an exact file entry says otherwise. Adding the same root again gives it to the
    /// later package.
    public mutating func addRoot(_ path: String, package: UInt32) {
        unique()
        let storage = self.storage
        var p = path
        while p.utf8.count > 1 && p.hasSuffix("/") { p.removeLast() }
        let key = Self.prefixHash(p) & storage.keyMask
        let existing = PathTable.withBytes(p) { bytes in
            storage.roots.find(key) { entry, _ in Self.rootPath(storage.rootEntries[Int(entry)].path, equals: bytes) }
        }
        if let existing {
            storage.rootEntries[Int(storage.roots.value(at: existing))] = (p, package)
        } else {
            storage.roots.insert(key, value: UInt32(storage.rootEntries.count), aux: 0)
            storage.rootEntries.append((p, package))
        }
    }

    /// Declares that paths under `alias` are the same files as under `target` (a symlinked
    /// directory such as `/bin` → `/usr/bin`).
    public mutating func addAlias(_ alias: String, target: String) {
        unique()
        storage.aliases.append((alias, target))
        storage.aliasBytes.append((Array(alias.utf8), Array(target.utf8)))
    }

    /// The packages owning `path`: every package that lists it as a file (as `dpkg -S` does),
    /// else the package whose root directory is the longest prefix of it. Empty when none.
    public func owners(of path: String) -> [Owner] {
        switch lookup(path) {
        case .file(let value)?:
            let ids = value & Self.sharedFlag != 0 ? storage.shared[Int(value & ~Self.sharedFlag)] : [value]
            return ids.map { Owner(package: storage.packages[Int($0)], match: .file) }
        case .root(let entry)?:
            return [rootOwner(entry)]
        case nil:
            return []
        }
    }

    /// The id (an index into ``packages``) of the most specific owner, without building an
    /// ``Owner``: the hot path for per-event attribution.
    public func ownerID(of path: String) -> UInt32? {
        switch lookup(path) {
        case .file(let value)?: return firstID(value)
        case .root(let entry)?: return storage.rootEntries[Int(entry)].package
        case nil: return nil
        }
    }

    /// The most specific owner (the first listed for a shared path), or nil.
    public func owner(of path: String) -> Owner? {
        switch lookup(path) {
        case .file(let value)?: return Owner(package: storage.packages[Int(firstID(value))], match: .file)
        case .root(let entry)?: return rootOwner(entry)
        case nil: return nil
        }
    }

    private enum Hit {
        /// A file entry's value (a package id or a shared list).
        case file(UInt32)
        /// An index into the root entries.
        case root(UInt32)
    }

    /// The file entry of `path` or of an aliased form of it, else the longest root of `path` or of
    /// an aliased form.
    @inline(__always)
    private func lookup(_ path: String) -> Hit? {
        PathTable.withBytes(path) { bytes in
            if let value = storage.files.value(bytes) { return .file(value) }
            if !storage.aliasBytes.isEmpty, let value = firstAliased(bytes, { storage.files.value($0) }) { return .file(value) }
            if let entry = rootEntry(bytes) { return .root(entry) }
            if !storage.aliasBytes.isEmpty, let entry = firstAliased(bytes, { rootEntry($0) }) { return .root(entry) }
            return nil
        }
    }

    @inline(__always)
    private func firstID(_ value: UInt32) -> UInt32 {
        value & Self.sharedFlag != 0 ? storage.shared[Int(value & ~Self.sharedFlag)][0] : value
    }

    private func rootOwner(_ entry: UInt32) -> Owner {
        let (rootPath, package) = storage.rootEntries[Int(entry)]
        return Owner(package: storage.packages[Int(package)], match: .root(rootPath))
    }

    /// The longest root whose stored path equals a whole-component prefix of `path` (the part
    /// before one of its `/`, or all of it).
    private func rootEntry(_ path: UnsafeRawBufferPointer) -> UInt32? {
        guard !storage.roots.isEmpty else { return nil }
        var best: UInt32?
        var h = Self.offsetBasis
        for i in 0..<path.count {
            let byte = path[i]
            if byte == UInt8(ascii: "/"), i > 0, let entry = root(h, UnsafeRawBufferPointer(rebasing: path[0..<i])) { best = entry }
            h = (h ^ UInt64(byte)) &* Self.prime
        }
        if let entry = root(h, path) { best = entry }
        return best
    }

    /// The root stored for exactly `prefix` (whose prefix hash is `h`).
    @inline(__always)
    private func root(_ h: UInt64, _ prefix: UnsafeRawBufferPointer) -> UInt32? {
        storage.roots.value(h & storage.keyMask) { entry, _ in Self.rootPath(storage.rootEntries[Int(entry)].path, equals: prefix) }
    }

    @inline(__always)
    private static func rootPath(_ root: String, equals bytes: UnsafeRawBufferPointer) -> Bool {
        root.utf8.count == bytes.count && PathTable.withBytes(root) { PathTable.equal($0, bytes) }
    }

    /// `body`'s first non-nil answer for the forms of `path` under the other name of an alias
    /// (`/usr/bin/x` → `/bin/x`, `/bin/x` → `/usr/bin/x`), built on the stack.
    private func firstAliased<T>(_ path: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> T?) -> T? {
        for (alias, target) in storage.aliasBytes {
            if let found = Self.rewritten(path, from: target, to: alias, body) { return found }
            if let found = Self.rewritten(path, from: alias, to: target, body) { return found }
        }
        return nil
    }

    private static func rewritten<T>(_ path: UnsafeRawBufferPointer, from: [UInt8], to: [UInt8],
                                      _ body: (UnsafeRawBufferPointer) -> T?) -> T? {
        guard path.count > from.count, path[from.count] == UInt8(ascii: "/"),
              from.withUnsafeBytes({ PathTable.equal($0, UnsafeRawBufferPointer(rebasing: path[0..<from.count])) })
        else { return nil }
        let rest = UnsafeRawBufferPointer(rebasing: path[from.count...])
        return withUnsafeTemporaryAllocation(byteCount: to.count + rest.count, alignment: 1) { buffer in
            to.withUnsafeBytes { buffer.copyMemory(from: $0) }
            UnsafeMutableRawBufferPointer(rebasing: buffer[to.count...]).copyMemory(from: rest)
            return body(UnsafeRawBufferPointer(buffer))
        }
    }

    /// The key of a file entry (see ``PathTable/hash(_:)``).
    static func hash(_ path: String) -> UInt64 {
        PathTable.withBytes(path) { PathTable.hash($0) }
    }

    /// The key of a root: byte-wise FNV-1a, which ``rootEntry(_:)`` computes for every prefix of
    /// a path in one pass.
    static func prefixHash(_ path: String) -> UInt64 {
        var h = offsetBasis
        for byte in path.utf8 { h = (h ^ UInt64(byte)) &* prime }
        return h
    }
}
