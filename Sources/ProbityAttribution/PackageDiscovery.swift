import Foundation

/// Where to look for installed packages, with sensible defaults.
public struct DiscoveryOptions: Sendable {
    /// dpkg's database directory (`nil`: skip dpkg).
    public var dpkgRoot: String? = "/var/lib/dpkg"
    /// `site-packages` / `dist-packages` directories (default: every Python 3's system and user ones).
    public var sitePackages: [String] = PythonDistributions.defaultSitePackages()
    /// Directories searched for `node_modules` trees and virtual environments (the workspace).
    public var workspaces: [String] = [FileManager.default.currentDirectoryPath]
    /// How deep to look for `node_modules` and venvs under a workspace.
    public var workspaceDepth = 3
    /// Index only the files with one of these names (`nil`: every file): a one-off look-up
    /// (`probity whose`) reads the databases without building the whole index.
    public var onlyFileNames: FileNameFilter?

    public init() {}
}

/// Keeps the database lines whose last path component is one of a few names, checked on the
/// bytes of each line before any string is made of it.
public struct FileNameFilter: Sendable {
    private let names: Set<[UInt8]>
    /// The names' lengths (up to 255; a longer name is never kept, no file name is longer).
    private let lengths: [Bool]
    /// The paths asked about.
    public let paths: [String]

    /// The names of the last components of `paths`.
    public init(paths: [String]) {
        var names = Set<[UInt8]>()
        var lengths = [Bool](repeating: false, count: 256)
        for path in paths {
            let name = Array((path.split(separator: "/").last.map(String.init) ?? path).utf8)
            if name.count < 256 { names.insert(name); lengths[name.count] = true }
        }
        self.names = names
        self.lengths = lengths
        self.paths = paths
    }

    /// Whether one of the paths lies under the directory `directory`.
    public func anyPath(under directory: String) -> Bool {
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        return paths.contains { $0.hasPrefix(prefix) }
    }

    /// Whether the path in `line` (possibly with a trailing `/`) has a kept name.
    public func keeps(_ line: UnsafeRawBufferPointer) -> Bool {
        var end = line.count
        while end > 0 && line[end - 1] == UInt8(ascii: "/") { end -= 1 }
        var start = end
        while start > 0 && line[start - 1] != UInt8(ascii: "/") { start -= 1 }
        let length = end - start
        guard length < 256, lengths[length] else { return false }
        return names.contains(Array(UnsafeRawBufferPointer(rebasing: line[start..<end])))
    }

    public func keeps(_ line: String) -> Bool {
        var line = line
        return line.withUTF8 { keeps(UnsafeRawBufferPointer($0)) }
    }

    public func keeps(_ line: ArraySlice<UInt8>) -> Bool {
        line.withUnsafeBytes { keeps($0) }
    }

    /// Calls `body` with each non-empty line of `text` that has a kept name.
    public func forEachKeptLine(in text: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) {
        var start = 0
        let count = text.count
        while start < count {
            var end = start
            while end < count && text[end] != UInt8(ascii: "\n") { end += 1 }
            if end > start {
                let line = UnsafeRawBufferPointer(rebasing: text[start..<end])
                if keeps(line) { body(line) }
            }
            start = end + 1
        }
    }
}

/// Builds a ``PathIndex`` from every package database found.
public enum PackageDiscovery {
    /// What was read, and any database that could not be (reported, not fatal).
    public struct Result: Sendable {
        public var index: PathIndex
        public var counts: [InstalledPackage.Source: Int]
        public var problems: [String]
    }

    public static func discover(_ options: DiscoveryOptions = DiscoveryOptions()) -> Result {
        var index = PathIndex()
        var counts: [InstalledPackage.Source: Int] = [:]
        var problems: [String] = []
        DpkgDatabase.addUsrMergeAliases(into: &index)
        if let root = options.dpkgRoot {
            do { counts[.dpkg] = try DpkgDatabase.load(into: &index, root: root, only: options.onlyFileNames) } catch { problems.append("\(error)") }
        }
        var sites = options.sitePackages
        var trees: [String] = []
        for workspace in options.workspaces {
            findWorkspaceEnvironments(workspace, depth: options.workspaceDepth, sites: &sites, trees: &trees)
        }
        for site in Set(sites).sorted() {
            do { counts[.pip, default: 0] += try PythonDistributions.load(into: &index, sitePackages: site, only: options.onlyFileNames) } catch {
                problems.append("\(error)")
            }
        }
        for tree in trees {
            do { counts[.npm, default: 0] += try NpmTree.load(into: &index, nodeModules: tree) } catch { problems.append("\(error)") }
        }
        return Result(index: index, counts: counts, problems: problems)
    }

    /// `node_modules` directories and venvs' site-packages under `dir`, to `depth` levels.
    /// The site-packages directories discovery reads: the system's and the workspaces' venvs.
    public static func sitePackages(_ options: DiscoveryOptions = DiscoveryOptions()) -> [String] {
        var sites = options.sitePackages
        var trees: [String] = []
        for workspace in options.workspaces {
            findWorkspaceEnvironments(workspace, depth: options.workspaceDepth, sites: &sites, trees: &trees)
        }
        return Array(Set(sites)).sorted()
    }

    static func findWorkspaceEnvironments(_ dir: String, depth: Int, sites: inout [String], trees: inout [String]) {
        guard depth >= 0, let entries = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        for entry in entries {
            let path = dir + "/" + entry
            if entry == "node_modules" { trees.append(path); continue }
            if entry == ".git" || entry == ".build" || entry.hasPrefix(".build") { continue }
            if FileManager.default.fileExists(atPath: path + "/pyvenv.cfg") {
                let lib = path + "/lib"
                for python in ((try? FileManager.default.contentsOfDirectory(atPath: lib)) ?? []) where python.hasPrefix("python3") {
                    sites.append("\(lib)/\(python)/site-packages")
                }
                continue
            }
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
                findWorkspaceEnvironments(path, depth: depth - 1, sites: &sites, trees: &trees)
            }
        }
    }
}
