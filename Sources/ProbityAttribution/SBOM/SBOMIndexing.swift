import ProbityEvents
/// Puts what an SBOM says about files into a ``PathIndex``.
public enum SBOMIndexing {
    /// Adds every component of `document` as a package (source `sbom`) and every path the SBOM
    /// gives for it (component paths, and files owned through CONTAINS / hasFiles) as its files.
    /// Relative paths are taken relative to `root` (the directory the SBOM describes).
    /// Returns the number of paths added.
    @discardableResult
    public static func add(_ document: SBOMDocument, to index: inout PathIndex, root: String = "/") -> Int {
        var ids: [String: UInt32] = [:]
        var added = 0
        for component in document.components where component.type != "file" {
            let package = InstalledPackage(
                name: component.name, version: component.version, ecosystem: component.ecosystem ?? "generic",
                purl: component.purl, source: .sbom, isDirect: component.isDirect)
            let id = index.add(package)
            if let ref = component.ref { ids[ref] = id }
            for path in component.paths {
                index.addFile(absolute(path, root: root), package: id)
                added += 1
            }
        }
        for file in document.files {
            guard let owner = file.ownerRef, let id = ids[owner] else { continue }
            index.addFile(absolute(file.path, root: root), package: id)
            added += 1
        }
        return added
    }

    static func absolute(_ path: String, root: String) -> String {
        let joined = path.hasPrefix("/") ? path : (root.hasSuffix("/") ? root + path : root + "/" + path)
        return needsNormalizing(joined) ? PathText.normalize(joined) : joined
    }

    /// Whether a path has `.` or `..` components, repeated or trailing slashes.
    static func needsNormalizing(_ path: String) -> Bool {
        var previous: UInt8 = 0, beforePrevious: UInt8 = 0
        for byte in path.utf8 {
            if byte == UInt8(ascii: "/") {
                if previous == UInt8(ascii: "/") { return true }
                if previous == UInt8(ascii: ".") && (beforePrevious == UInt8(ascii: "/") || beforePrevious == UInt8(ascii: ".")) { return true }
            }
            beforePrevious = previous
            previous = byte
        }
        return previous == UInt8(ascii: "/") || (previous == UInt8(ascii: ".") && (beforePrevious == UInt8(ascii: "/") || beforePrevious == UInt8(ascii: ".")))
    }
}

/// What `probity sbom inspect` prints.
public struct SBOMSummary: Sendable, CustomStringConvertible {
    public var file: String
    public var format: SBOMFormat
    public var specVersion: String
    public var components: Int
    public var withVersion: Int
    public var withPurl: Int
    public var files: Int
    public var filesWithHashes: Int
    public var componentPaths: Int
    public var dependencyEdges: Int
    public var direct: Int
    public var transitive: Int
    public var problems: [SBOMProblem]

    public init(file: String, document d: SBOMDocument) {
        self.file = file
        format = d.format
        specVersion = d.specVersion
        components = d.components.count
        withVersion = d.components.filter { $0.version != nil }.count
        withPurl = d.components.filter { $0.purl != nil }.count
        files = d.files.count
        filesWithHashes = d.files.filter { !$0.hashes.isEmpty }.count
        componentPaths = d.components.map(\.paths.count).reduce(0, +)
        dependencyEdges = d.dependencies.values.map(\.count).reduce(0, +)
        direct = d.components.filter { $0.isDirect == true }.count
        transitive = d.components.filter { $0.isDirect == false }.count
        problems = d.problems
    }

    public var description: String {
        var lines = [
            "\(file)",
            "  format        \(format.rawValue) \(specVersion)",
            "  components    \(components) (\(withVersion) with a version, \(withPurl) with a purl; \(direct) direct, \(transitive) transitive)",
            "  files         \(files) (\(filesWithHashes) with hashes); component paths \(componentPaths)",
            "  dependencies  \(English.count(dependencyEdges, "edge"))",
            "  problems      \(problems.count)",
        ]
        lines += problems.prefix(20).map { "    \($0)" }
        if problems.count > 20 { lines.append("    … \(problems.count - 20) more") }
        return lines.joined(separator: "\n")
    }
}
