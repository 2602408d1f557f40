import Foundation
import ProbityEvents

/// Reads npm-installed packages from `node_modules` trees: each package directory (including
/// scoped `@scope/name` and nested `node_modules`) is a package root. Symlinked packages
/// (workspaces, `npm link`) are rooted at both the link and the directory it points to.
public enum NpmTree {
    /// Adds every package under `nodeModules` (a `node_modules` directory), recursively.
    /// Returns the number added.
    @discardableResult
    public static func load(into index: inout PathIndex, nodeModules: String, depthLimit: Int = 32) throws -> Int {
        var added = 0
        var visited = Set<String>()
        let lock = try LockFile.read(projectDirectory: (nodeModules as NSString).deletingLastPathComponent)
        try walk(nodeModules, depth: 0, depthLimit: depthLimit, index: &index, added: &added, visited: &visited, lock: lock)
        return added
    }

    /// `package-lock.json` (lockfileVersion 2 and 3): the `packages` map, keyed by install path
    /// (`node_modules/a/node_modules/b`), and the root's direct dependencies.
    struct LockFile {
        var entries: [String: (version: String?, dev: Bool)] = [:]
        var direct: Set<String> = []

        static func read(projectDirectory: String) throws -> LockFile? {
            let path = projectDirectory + "/package-lock.json"
            guard let data = FileManager.default.contents(atPath: path) else { return nil }
            guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw PackageDatabaseError(file: path, line: nil, message: "not a JSON object")
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

    private static func walk(
        _ nodeModules: String, depth: Int, depthLimit: Int, index: inout PathIndex, added: inout Int, visited: inout Set<String>,
        lock: LockFile?
    ) throws {
        guard depth < depthLimit, let entries = try? FileManager.default.contentsOfDirectory(atPath: nodeModules) else { return }
        for entry in entries.sorted() where !entry.hasPrefix(".") {
            let path = nodeModules + "/" + entry
            if entry.hasPrefix("@") {
                for scoped in ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() where !scoped.hasPrefix(".") {
                    try package(at: path + "/" + scoped, depth: depth, depthLimit: depthLimit, index: &index, added: &added, visited: &visited, lock: lock)
                }
            } else {
                try package(at: path, depth: depth, depthLimit: depthLimit, index: &index, added: &added, visited: &visited, lock: lock)
            }
        }
    }

    private static func package(
        at dir: String, depth: Int, depthLimit: Int, index: inout PathIndex, added: inout Int, visited: inout Set<String>,
        lock: LockFile?
    ) throws {
        let manifest = dir + "/package.json"
        guard let data = FileManager.default.contents(atPath: manifest) else { return }
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw PackageDatabaseError(file: manifest, line: nil, message: "not valid JSON: \(error.localizedDescription)")
        }
        guard let object = json as? [String: Any], let name = object["name"] as? String, !name.isEmpty else {
            throw PackageDatabaseError(file: manifest, line: nil, message: "no \"name\" string")
        }
        let real = (try? FileManager.default.destinationOfSymbolicLink(atPath: dir)).map {
            $0.hasPrefix("/") ? $0 : PathText.normalize((dir as NSString).deletingLastPathComponent + "/" + $0)
        }
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
        let resolved = real ?? dir
        guard visited.insert(resolved).inserted else { return }
        try walk(resolved + "/node_modules", depth: depth + 1, depthLimit: depthLimit, index: &index, added: &added, visited: &visited, lock: lock)
    }
}
