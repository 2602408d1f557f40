/// Path → package: exact file entries, plus package root directories where the longest prefix
/// wins (a file under `node_modules/a/node_modules/b/` belongs to `b`).
///
/// Paths are not stored: entries are keyed by a 64-bit FNV-1a hash of the path's bytes, and roots
/// by the hash of each directory prefix, which one left-to-right pass over a path computes for
/// all its prefixes at once. A lookup allocates nothing. Two different paths colliding in 64
/// bits among a million entries has a probability of about 3·10⁻⁸.
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

    public private(set) var packages: [InstalledPackage] = []
    private var files = HashTable()
    /// Owner lists for paths that more than one package lists (directories, mostly).
    private var shared: [[UInt32]] = []
    private var roots = HashTable(capacity: 64)
    private var rootEntries: [(path: String, package: UInt32)] = []
    /// Directory aliases, e.g. `/bin` → `/usr/bin` on a merged-/usr system.
    public private(set) var aliases: [(alias: String, target: String)] = []
    public private(set) var fileCount = 0

    private static let sharedFlag: UInt32 = 1 << 31
    private static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    private static let prime: UInt64 = 0x100_0000_01b3

    public init() {}

    /// Adds a package; returns its id for ``addFile(_:package:)`` and ``addRoot(_:package:)``.
    @discardableResult
    public mutating func add(_ package: InstalledPackage) -> UInt32 {
        packages.append(package)
        return UInt32(packages.count - 1)
    }

    /// Records that `path` (absolute) belongs to `package`.
    public mutating func addFile(_ path: String, package: UInt32) {
        let key = Self.hash(path)
        if let current = files[key] {
            if current & Self.sharedFlag != 0 {
                let s = Int(current & ~Self.sharedFlag)
                if !shared[s].contains(package) { shared[s].append(package) }
            } else if current != package {
                shared.append([current, package])
                files[key] = UInt32(shared.count - 1) | Self.sharedFlag
            }
        } else {
            files[key] = package
            fileCount += 1
        }
    }

    /// Records that everything under the directory `path` belongs to `package` unless a longer
    /// root or an exact file entry says otherwise.
    public mutating func addRoot(_ path: String, package: UInt32) {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        let key = Self.prefixHash(p)
        if let existing = roots[key] {
            rootEntries[Int(existing)] = (p, package)
        } else {
            roots[key] = UInt32(rootEntries.count)
            rootEntries.append((p, package))
        }
    }

    /// Declares that paths under `alias` are the same files as under `target` (a symlinked
    /// directory such as `/bin` → `/usr/bin`).
    public mutating func addAlias(_ alias: String, target: String) {
        aliases.append((alias, target))
    }

    /// The packages owning `path`: every package that lists it as a file (as `dpkg -S` does),
    /// else the package whose root directory is the longest prefix of it. Empty when none.
    public func owners(of path: String) -> [Owner] {
        if let ids = fileOwners(path) { return ids.map { Owner(package: packages[Int($0)], match: .file) } }
        for candidate in aliased(path) {
            if let ids = fileOwners(candidate) { return ids.map { Owner(package: packages[Int($0)], match: .file) } }
        }
        if let owner = rootOwner(path) { return [owner] }
        for candidate in aliased(path) {
            if let owner = rootOwner(candidate) { return [owner] }
        }
        return []
    }

    /// The id (an index into ``packages``) of the most specific owner, without building an
    /// ``Owner``: the hot path for per-event attribution.
    public func ownerID(of path: String) -> UInt32? {
        if let value = files[Self.hash(path)] {
            return value & Self.sharedFlag != 0 ? shared[Int(value & ~Self.sharedFlag)][0] : value
        }
        guard let owner = owners(of: path).first else { return nil }
        return packages.firstIndex(of: owner.package).map { UInt32($0) }
    }

    /// The most specific owner (the first listed for a shared path), or nil.
    public func owner(of path: String) -> Owner? {
        if let value = files[Self.hash(path)] {
            let id = value & Self.sharedFlag != 0 ? shared[Int(value & ~Self.sharedFlag)][0] : value
            return Owner(package: packages[Int(id)], match: .file)
        }
        return owners(of: path).first
    }

    private func fileOwners(_ path: String) -> [UInt32]? {
        guard let value = files[Self.hash(path)] else { return nil }
        return value & Self.sharedFlag != 0 ? shared[Int(value & ~Self.sharedFlag)] : [value]
    }

    /// The longest root that is a whole-component prefix of `path`.
    private func rootOwner(_ path: String) -> Owner? {
        guard !roots.isEmpty else { return nil }
        var best: UInt32?
        var h = Self.offsetBasis
        var utf8 = path.utf8.makeIterator()
        while let byte = utf8.next() {
            if byte == UInt8(ascii: "/"), h != Self.offsetBasis, let entry = roots[h] { best = entry }
            h = (h ^ UInt64(byte)) &* Self.prime
        }
        if let entry = roots[h] { best = entry }
        guard let best else { return nil }
        let (rootPath, package) = rootEntries[Int(best)]
        return Owner(package: packages[Int(package)], match: .root(rootPath))
    }

    private func aliased(_ path: String) -> [String] {
        var out: [String] = []
        for (alias, target) in aliases {
            if path.hasPrefix(target + "/") { out.append(alias + path.dropFirst(target.count)) }
            if path.hasPrefix(alias + "/") { out.append(target + path.dropFirst(alias.count)) }
        }
        return out
    }

    /// The key of a file entry: FNV-1a-style mixing of the path's bytes, eight at a time.
    static func hash(_ path: String) -> UInt64 {
        if let h = path.utf8.withContiguousStorageIfAvailable({ hashBytes(UnsafeRawBufferPointer($0)) }) { return h }
        var copy = path
        return copy.withUTF8 { hashBytes(UnsafeRawBufferPointer($0)) }
    }

    private static func hashBytes(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h = offsetBasis
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

    /// The key of a root: byte-wise FNV-1a, which ``rootOwner(_:)`` computes for every prefix of
    /// a path in one pass.
    static func prefixHash(_ path: String) -> UInt64 {
        var h = offsetBasis
        for byte in path.utf8 { h = (h ^ UInt64(byte)) &* prime }
        return h
    }
}
