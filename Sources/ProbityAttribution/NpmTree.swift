import Foundation
import ProbityEvents

/// Reads npm-installed packages from `node_modules` trees: each package directory (including
/// scoped `@scope/name` and nested `node_modules`) is a package root. Symlinked packages
/// (workspaces, `npm link`) are rooted at both the link and the directory it points to, when that
/// directory is inside the tree being read (`within`): a package whose real path leads out of it
/// (`node_modules/x -> /`) is refused with a warning. A `package.json` that is not valid JSON or
/// has no name costs its package alone, with a warning.
public enum NpmTree {
    /// Adds every package under `nodeModules` (a `node_modules` directory), recursively.
    /// `within` is the tree its packages must stay in (default: the project, the directory
    /// holding `nodeModules`). Returns the number added.
    @discardableResult
    public static func load(
        into index: inout PathIndex, nodeModules: String, depthLimit: Int = 32, within: String? = nil,
        warn: (PackageDatabaseError) -> Void = { _ in }
    ) throws -> Int {
        var added = 0
        var visited = Set<String>()
        let project = (nodeModules as NSString).deletingLastPathComponent
        let lock = LockFile.read(projectDirectory: project, warn: warn)
        guard let tree = PackageDiscovery.realPath(within ?? project) else { return 0 }
        withoutActuallyEscaping(warn) { warn in
            Walker(tree: tree, depthLimit: depthLimit, lock: lock, warn: warn)
                .walk(nodeModules, depth: 0, index: &index, added: &added, visited: &visited)
        }
        return added
    }

    /// `package-lock.json` (lockfileVersion 2 and 3): the `packages` map, keyed by install path
    /// (`node_modules/a/node_modules/b`), and the root's direct dependencies.
    struct LockFile {
        var entries: [String: (version: String?, dev: Bool)] = [:]
        var direct: Set<String> = []

        static func read(projectDirectory: String, warn: (PackageDatabaseError) -> Void) -> LockFile? {
            let path = projectDirectory + "/package-lock.json"
            guard let data = DatabaseFiles.read(path, warn: warn) else { return nil }
            guard let object = try? JSONSerialization.jsonObject(with: Data(data)) as? [String: Any] else {
                warn(PackageDatabaseError(file: path, line: nil, message: "not a JSON object; skipped (no package is known as direct)"))
                return nil
            }
            guard let packages = object["packages"] as? [String: Any] else {
                // lockfileVersion 1 has only "dependencies"; nothing to take from it here.
                return nil
            }
            var lock = LockFile()
            for (key, value) in packages {
                guard let entry = value as? [String: Any] else { continue }
                if key.isEmpty {
                    for field in ["dependencies", "devDependencies", "optionalDependencies", "peerDependencies"] {
                        lock.direct.formUnion(((entry[field] as? [String: Any]) ?? [:]).keys)
                    }
                    continue
                }
                lock.entries[key] = (entry["version"] as? String, entry["dev"] as? Bool ?? false)
            }
            return lock
        }
    }

    /// One tree's walk: where it must stay, what the lock file says, where warnings go.
    private struct Walker {
        let tree: String
        let depthLimit: Int
        let lock: LockFile?
        let warn: (PackageDatabaseError) -> Void

        func walk(_ nodeModules: String, depth: Int, index: inout PathIndex, added: inout Int, visited: inout Set<String>) {
            guard depth < depthLimit, let entries = try? FileManager.default.contentsOfDirectory(atPath: nodeModules) else { return }
            for entry in entries.sorted() where !entry.hasPrefix(".") {
                let path = nodeModules + "/" + entry
                if entry.hasPrefix("@") {
                    for scoped in ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() where !scoped.hasPrefix(".") {
                        package(at: path + "/" + scoped, depth: depth, index: &index, added: &added, visited: &visited)
                    }
                } else {
                    package(at: path, depth: depth, index: &index, added: &added, visited: &visited)
                }
            }
        }

        private func package(at dir: String, depth: Int, index: inout PathIndex, added: inout Int, visited: inout Set<String>) {
            let manifest = dir + "/package.json"
            guard let resolved = PackageDiscovery.realPath(dir) else { return }
            guard PackageDiscovery.isStrictlyInside(resolved, tree) else {
                // Only a directory with a manifest is a package: a stray link is not worth a warning.
                if FileManager.default.fileExists(atPath: manifest) || resolved == "/" {
                    warn(PackageDatabaseError(
                        file: dir, line: nil,
                        message: "leads to \(DatabaseFiles.quoted(resolved)), outside \(tree): not a package of this tree; skipped"))
                }
                return
            }
            guard let data = DatabaseFiles.read(manifest, limit: DatabaseFiles.maximumManifestBytes, warn: warn) else { return }
            let object: [String: Any]
            do {
                guard let parsed = try JSONSerialization.jsonObject(with: Data(data)) as? [String: Any] else {
                    warn(PackageDatabaseError(file: manifest, line: nil, message: "not a JSON object; package skipped"))
                    return
                }
                object = parsed
            } catch {
                warn(PackageDatabaseError(file: manifest, line: nil, message: "not valid JSON: \(error.localizedDescription); package skipped"))
                return
            }
            guard let name = object["name"] as? String, !name.isEmpty, DatabaseFiles.unusablePath(name) == nil else {
                warn(PackageDatabaseError(file: manifest, line: nil, message: "no usable \"name\" string; package skipped"))
                return
            }
            let real = resolved == dir ? nil : resolved
            // Direct when the project's lock file lists it among the root's dependencies and it is
            // installed at the top level; transitive when the lock file knows it otherwise.
            var isDirect: Bool?
            if let lock, let range = dir.range(of: "node_modules/", options: .backwards) {
                let topLevel = !dir[..<range.lowerBound].contains("node_modules/")
                isDirect = topLevel && lock.direct.contains(name)
            }
            let id = index.add(InstalledPackage(
                name: name, version: object["version"] as? String, ecosystem: "npm", source: .npm, root: real ?? dir,
                isDirect: isDirect))
            index.addRoot(dir, package: id)
            if let real { index.addRoot(real, package: id) }
            added += 1
            guard visited.insert(resolved).inserted else { return }
            walk(resolved + "/node_modules", depth: depth + 1, index: &index, added: &added, visited: &visited)
        }
    }
}
