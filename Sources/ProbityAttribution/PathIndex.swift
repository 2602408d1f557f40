/// Path → package: exact file entries, plus package root directories where the longest prefix
/// wins (a file under `node_modules/a/node_modules/b/` belongs to `b`).
///
/// Files are stored per directory: a dictionary of directories, each holding a dictionary of
/// base names. Most base names fit Swift's 15-byte inline strings, so a million entries cost
/// tens of MiB rather than one heap string per path.
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
    private var directories: [String: Int] = [:]
    private var files: [[String: UInt32]] = []
    /// Owner lists for paths that more than one package lists (directories, mostly).
    private var shared: [[UInt32]] = []
    private var roots: [String: UInt32] = [:]
    /// Directory aliases, e.g. `/bin` → `/usr/bin` on a merged-/usr system.
    public private(set) var aliases: [(alias: String, target: String)] = []
    public private(set) var fileCount = 0

    private static let sharedFlag: UInt32 = 1 << 31

    public init() {}

    /// Adds a package; returns its id for ``addFile(_:package:)`` and ``addRoot(_:package:)``.
    @discardableResult
    public mutating func add(_ package: InstalledPackage) -> UInt32 {
        packages.append(package)
        return UInt32(packages.count - 1)
    }

    /// Records that `path` (absolute) belongs to `package`.
    public mutating func addFile(_ path: String, package: UInt32) {
        let (dir, base) = Self.split(path)
        let d: Int
        if let existing = directories[dir] {
            d = existing
        } else {
            d = files.count
            directories[dir] = d
            files.append([:])
        }
        if let current = files[d][base] {
            if current & Self.sharedFlag != 0 {
                let s = Int(current & ~Self.sharedFlag)
                if !shared[s].contains(package) { shared[s].append(package) }
            } else if current != package {
                shared.append([current, package])
                files[d][base] = UInt32(shared.count - 1) | Self.sharedFlag
            }
        } else {
            files[d][base] = package
            fileCount += 1
        }
    }

    /// Records that everything under the directory `path` belongs to `package` unless a longer
    /// root or an exact file entry says otherwise.
    public mutating func addRoot(_ path: String, package: UInt32) {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        roots[p] = package
    }

    /// Declares that paths under `alias` are the same files as under `target` (a symlinked
    /// directory such as `/bin` → `/usr/bin`).
    public mutating func addAlias(_ alias: String, target: String) {
        aliases.append((alias, target))
    }

    /// The packages owning `path`: every package that lists it as a file (as `dpkg -S` does),
    /// else the package whose root directory is the longest prefix of it. Empty when none.
    public func owners(of path: String) -> [Owner] {
        for candidate in [path] + aliased(path) {
            let exact = fileOwners(candidate)
            if !exact.isEmpty { return exact.map { Owner(package: packages[Int($0)], match: .file) } }
        }
        for candidate in [path] + aliased(path) {
            if let (id, root) = rootOwner(candidate) { return [Owner(package: packages[Int(id)], match: .root(root))] }
        }
        return []
    }

    /// The single most specific owner (first listed), or nil.
    public func owner(of path: String) -> Owner? { owners(of: path).first }

    private func fileOwners(_ path: String) -> [UInt32] {
        let (dir, base) = Self.split(path)
        guard let d = directories[dir], let value = files[d][base] else { return [] }
        return value & Self.sharedFlag != 0 ? shared[Int(value & ~Self.sharedFlag)] : [value]
    }

    private func rootOwner(_ path: String) -> (UInt32, String)? {
        guard !roots.isEmpty else { return nil }
        var prefix = Substring(path)
        while true {
            if let id = roots[String(prefix)] { return (id, String(prefix)) }
            guard let slash = prefix.lastIndex(of: "/"), slash > prefix.startIndex else { return nil }
            prefix = prefix[..<slash]
        }
    }

    private func aliased(_ path: String) -> [String] {
        var out: [String] = []
        for (alias, target) in aliases {
            if path.hasPrefix(target + "/") { out.append(alias + path.dropFirst(target.count)) }
            if path.hasPrefix(alias + "/") { out.append(target + path.dropFirst(alias.count)) }
        }
        return out
    }

    /// ("/a/b", "c") for "/a/b/c"; ("/", "a") for "/a"; ("", path) for a relative path.
    static func split(_ path: String) -> (String, String) {
        guard let slash = path.lastIndex(of: "/") else { return ("", path) }
        let dir = slash == path.startIndex ? "/" : String(path[..<slash])
        return (dir, String(path[path.index(after: slash)...]))
    }
}
