#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Where to look for installed packages, with sensible defaults.
///
/// The defaults are `probity`'s (run, trace, whose): the command's workspace is its working
/// directory. probityd uses ``system(packageRoots:)``: the system's package locations and the
/// configured roots, never its working directory nor anyone's home.
public struct DiscoveryOptions: Sendable {
    /// dpkg's database directory (`nil`: skip dpkg).
    public var dpkgRoot: String? = "/var/lib/dpkg"
    /// `site-packages` / `dist-packages` directories (default: every Python 3's system and user ones).
    public var sitePackages: [String] = PythonDistributions.defaultSitePackages()
    /// Directories searched for `node_modules` trees and virtual environments (the workspace). A
    /// directory named `node_modules` is read as a tree itself, one named `site-packages` or
    /// `dist-packages` as a site. What is found must stay inside the directory: a package, a
    /// `node_modules` or a venv whose real path leads out of it is refused with a warning.
    public var workspaces: [String] = [FileManager.default.currentDirectoryPath]
    /// How deep to look for `node_modules` and venvs under a workspace.
    public var workspaceDepth = 3
    /// Index only the files with one of these names (`nil`: every file): a one-off look-up
    /// (`probity whose`) reads the databases without building the whole index.
    public var onlyFileNames: FileNameFilter?

    public init() {}

    /// The system's package locations, where only root writes: dpkg's database, the system
    /// site-packages (`/usr/lib/python3*`, `/usr/local/lib/python3*`), and `packageRoots` (each
    /// searched as a workspace is: probityd's `package-roots`).
    public static func system(packageRoots: [String]) -> DiscoveryOptions {
        var options = DiscoveryOptions()
        options.sitePackages = PythonDistributions.defaultSitePackages(home: nil)
        options.workspaces = packageRoots
        return options
    }

    /// probityd's default `package-roots`: the global npm trees and /opt.
    public static let systemPackageRoots = ["/usr/lib/node_modules", "/usr/local/lib/node_modules", "/opt"]
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
        let warn: (PackageDatabaseError) -> Void = { problems.append("\($0)") }
        DpkgDatabase.addUsrMergeAliases(into: &index)
        if let root = options.dpkgRoot {
            do { counts[.dpkg] = try DpkgDatabase.load(into: &index, root: root, only: options.onlyFileNames, warn: warn) } catch {
                problems.append("\(error)")
            }
        }
        let found = environments(options, warn: warn)
        for site in found.sites {
            do { counts[.pip, default: 0] += try PythonDistributions.load(into: &index, sitePackages: site, only: options.onlyFileNames, warn: warn) } catch {
                problems.append("\(error)")
            }
        }
        for (tree, within) in found.trees {
            do { counts[.npm, default: 0] += try NpmTree.load(into: &index, nodeModules: tree, within: within, warn: warn) } catch {
                problems.append("\(error)")
            }
        }
        return Result(index: index, counts: counts, problems: problems)
    }

    /// The site-packages directories discovery reads: the system's and the workspaces' venvs.
    public static func sitePackages(_ options: DiscoveryOptions = DiscoveryOptions()) -> [String] {
        environments(options, warn: { _ in }).sites
    }

    /// The site-packages to read, and the `node_modules` trees with the tree each must stay in.
    static func environments(
        _ options: DiscoveryOptions, warn: (PackageDatabaseError) -> Void
    ) -> (sites: [String], trees: [(nodeModules: String, within: String)]) {
        var sites = options.sitePackages
        var trees: [(String, String)] = []
        for workspace in options.workspaces {
            let name = (workspace as NSString).lastPathComponent
            guard let real = realPath(workspace) else { continue }
            if name == "node_modules" {
                trees.append((workspace, workspace))
            } else if name == "site-packages" || name == "dist-packages" {
                sites.append(workspace)
            } else {
                var found: [String] = []
                findWorkspaceEnvironments(workspace, depth: options.workspaceDepth, sites: &sites, trees: &found, within: real, warn: warn)
                trees += found.map { ($0, real) }
            }
        }
        return (Array(Set(sites)).sorted(), trees)
    }

    /// `node_modules` directories and venvs' site-packages under `dir`, to `depth` levels, whose
    /// real paths are inside `within`; symbolic links to directories are not descended.
    static func findWorkspaceEnvironments(
        _ dir: String, depth: Int, sites: inout [String], trees: inout [String], within: String,
        warn: (PackageDatabaseError) -> Void
    ) {
        guard depth >= 0, let entries = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        for entry in entries.sorted() {
            let path = dir + "/" + entry
            if entry == ".git" || entry == ".build" || entry.hasPrefix(".build") { continue }
            let isEnvironment = entry == "node_modules" || FileManager.default.fileExists(atPath: path + "/pyvenv.cfg")
            var st = stat()
            guard lstat(path, &st) == 0 else { continue }
            let isLink = st.st_mode & S_IFMT == S_IFLNK
            if isLink || isEnvironment {
                guard let real = realPath(path) else { continue }
                guard isStrictlyInside(real, within) else {
                    if isEnvironment {
                        warn(PackageDatabaseError(
                            file: path, line: nil, message: "leads to \(DatabaseFiles.quoted(real)), outside \(within); skipped"))
                    }
                    continue
                }
            }
            if entry == "node_modules" { trees.append(path); continue }
            if isEnvironment {
                let lib = path + "/lib"
                for python in ((try? FileManager.default.contentsOfDirectory(atPath: lib)) ?? []).sorted() where python.hasPrefix("python3") {
                    sites.append("\(lib)/\(python)/site-packages")
                }
                continue
            }
            if !isLink && st.st_mode & S_IFMT == S_IFDIR {
                findWorkspaceEnvironments(path, depth: depth - 1, sites: &sites, trees: &trees, within: within, warn: warn)
            }
        }
    }

    /// `path` with every symbolic link, `.` and `..` resolved (nil when it does not exist).
    public static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Whether the real path `path` is below the real path `tree` (not `tree` itself).
    public static func isStrictlyInside(_ path: String, _ tree: String) -> Bool {
        path.count > tree.count && path.hasPrefix(tree == "/" ? "/" : tree + "/")
    }
}
