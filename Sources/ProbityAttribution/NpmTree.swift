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
        try walk(nodeModules, depth: 0, depthLimit: depthLimit, index: &index, added: &added, visited: &visited)
        return added
    }

    private static func walk(
        _ nodeModules: String, depth: Int, depthLimit: Int, index: inout PathIndex, added: inout Int, visited: inout Set<String>
    ) throws {
        guard depth < depthLimit, let entries = try? FileManager.default.contentsOfDirectory(atPath: nodeModules) else { return }
        for entry in entries.sorted() where !entry.hasPrefix(".") {
            let path = nodeModules + "/" + entry
            if entry.hasPrefix("@") {
                for scoped in ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() where !scoped.hasPrefix(".") {
                    try package(at: path + "/" + scoped, depth: depth, depthLimit: depthLimit, index: &index, added: &added, visited: &visited)
                }
            } else {
                try package(at: path, depth: depth, depthLimit: depthLimit, index: &index, added: &added, visited: &visited)
            }
        }
    }

    private static func package(
        at dir: String, depth: Int, depthLimit: Int, index: inout PathIndex, added: inout Int, visited: inout Set<String>
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
        let id = index.add(InstalledPackage(
            name: name, version: object["version"] as? String, ecosystem: "npm", source: .npm, root: real ?? dir))
        index.addRoot(dir, package: id)
        if let real { index.addRoot(real, package: id) }
        added += 1
        let resolved = real ?? dir
        guard visited.insert(resolved).inserted else { return }
        try walk(resolved + "/node_modules", depth: depth + 1, depthLimit: depthLimit, index: &index, added: &added, visited: &visited)
    }
}
