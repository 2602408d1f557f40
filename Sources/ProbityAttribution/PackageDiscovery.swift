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

    public init() {}
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
            do { counts[.dpkg] = try DpkgDatabase.load(into: &index, root: root) } catch { problems.append("\(error)") }
        }
        var sites = options.sitePackages
        var trees: [String] = []
        for workspace in options.workspaces {
            findWorkspaceEnvironments(workspace, depth: options.workspaceDepth, sites: &sites, trees: &trees)
        }
        for site in Set(sites).sorted() {
            do { counts[.pip, default: 0] += try PythonDistributions.load(into: &index, sitePackages: site) } catch {
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
