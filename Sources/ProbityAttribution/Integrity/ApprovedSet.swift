#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbityEvents
import Synchronization

/// The approved state of a tree (a venv, `node_modules`, a release directory): every regular
/// file's SHA-256, written by `probity approve` as a CycloneDX 1.6 SBOM (file components with
/// their hashes, so that any other tool can read it) and used by `probity run --approved` as the
/// set a file must belong to: in the tree, a file that is executed or loaded must be listed and
/// match its digest ("listed files only").
public struct ApprovedSet: Sendable {
    /// The tree's absolute path when it was approved.
    public var root: String
    /// Path relative to `root` → SHA-256.
    public var files: [String: [UInt8]]

    public init(root: String, files: [String: [UInt8]]) {
        self.root = root
        self.files = files
    }

    /// The error of approving or reading an approved set, with the path.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var path: String
        public var message: String
        public var description: String { "\(path): \(message)" }
    }

    // MARK: - Approving a tree

    /// Hashes every regular file under `root` (links are not followed: what they point to inside
    /// the tree is listed itself), on every core; `progress` is told (done, total) now and then.
    public static func approve(root: String, progress: (@Sendable (Int, Int) -> Void)? = nil) throws(Failure) -> ApprovedSet {
        guard let real = realpath(root, nil) else { throw Failure(path: root, message: String(cString: strerror(errno))) }
        let base = String(cString: real)
        free(real)
        var info = stat()
        guard stat(base, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else { throw Failure(path: root, message: "not a directory") }
        let paths = regularFiles(under: base)
        let results = Mutex<[String: [UInt8]]>([:])
        let failures = Mutex<[String]>([])
        let done = Atomic<Int>(0)
        let chunk = 64
        DispatchQueue.concurrentPerform(iterations: (paths.count + chunk - 1) / chunk) { c in
            var local: [String: [UInt8]] = [:]
            for relative in paths[(c * chunk)..<min(paths.count, (c + 1) * chunk)] {
                if let digest = Revalidator.digest(of: base + "/" + relative, algorithm: .sha256) {
                    local[relative] = digest
                } else {
                    failures.withLock { $0.append(relative) }
                }
            }
            results.withLock { all in all.merge(local) { a, _ in a } }
            let n = done.add(local.count, ordering: .relaxed).newValue
            progress?(n, paths.count)
        }
        if let first = failures.withLock({ $0.first }) {
            throw Failure(path: base + "/" + first, message: "cannot be read: the approved set would not be complete")
        }
        return ApprovedSet(root: base, files: results.withLock { $0 })
    }

    /// Relative paths of the regular files under `base`, not through links.
    static func regularFiles(under base: String) -> [String] {
        var out: [String] = []
        var pending = [""]
        while let relative = pending.popLast() {
            let directory = relative.isEmpty ? base : base + "/" + relative
            guard let dir = opendir(directory) else { continue }
            defer { closedir(dir) }
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if name == "." || name == ".." { continue }
                let path = relative.isEmpty ? name : relative + "/" + name
                var info = stat()
                guard lstat(base + "/" + path, &info) == 0 else { continue }
                switch info.st_mode & S_IFMT {
                case S_IFDIR: pending.append(path)
                case S_IFREG: out.append(path)
                default: continue
                }
            }
        }
        return out.sorted()
    }

    // MARK: - CycloneDX

    static let rootProperty = "probity:approved-root"
    static let scopeProperty = "probity:scope"

    struct BOM: Codable {
        var bomFormat = "CycloneDX"
        var specVersion = "1.6"
        var serialNumber: String
        var version = 1
        var metadata: Metadata
        var components: [Component]
    }

    struct Metadata: Codable {
        var timestamp: String
        var tools: Tools
        var component: Component
        var properties: [Property]
    }

    struct Tools: Codable { var components: [Component] }

    struct Component: Codable {
        var type: String
        var bomRef: String?
        var name: String
        var version: String?
        var hashes: [Hash]?
        enum CodingKeys: String, CodingKey {
            case type, name, version, hashes
            case bomRef = "bom-ref"
        }
    }

    struct Hash: Codable {
        var alg: String
        var content: String
    }

    struct Property: Codable {
        var name: String
        var value: String
    }

    /// The set as a CycloneDX 1.6 JSON document.
    public func cycloneDX(timestamp: Date = Date()) -> Data {
        let formatter = ISO8601DateFormatter()
        let name = root.split(separator: "/").last.map(String.init) ?? root
        let bom = BOM(
            serialNumber: "urn:uuid:\(UUID().uuidString.lowercased())",
            metadata: Metadata(
                timestamp: formatter.string(from: timestamp),
                tools: Tools(components: [Component(type: "application", name: "probity", version: ProbityVersion.string)]),
                component: Component(type: "application", bomRef: "approved-tree", name: name),
                properties: [Property(name: Self.rootProperty, value: root), Property(name: Self.scopeProperty, value: "listed-files-only")]),
            components: files.keys.sorted().enumerated().map { i, path in
                Component(type: "file", bomRef: "file-\(i + 1)", name: path,
                          hashes: [Hash(alg: "SHA-256", content: files[path].map(Self.hex) ?? "")])
            })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(bom)) ?? Data()
    }

    /// Reads an approved set written by ``cycloneDX(timestamp:)`` (at most `limit` bytes).
    public static func load(_ path: String, limit: Int = 256 << 20) throws(Failure) -> ApprovedSet {
        let bytes: [UInt8]
        do { bytes = try FileContents.read(path, limit: limit) } catch { throw Failure(path: path, message: error.message) }
        let bom: BOM
        do { bom = try JSONDecoder().decode(BOM.self, from: Data(bytes)) } catch {
            throw Failure(path: path, message: "not an approved set (a CycloneDX document written by `probity approve`): \(error)")
        }
        guard let root = bom.metadata.properties.first(where: { $0.name == rootProperty })?.value, root.hasPrefix("/") else {
            throw Failure(path: path, message: "no `\(rootProperty)` property: not written by `probity approve`")
        }
        var files: [String: [UInt8]] = [:]
        for component in bom.components where component.type == "file" {
            guard !component.name.hasPrefix("/"), !component.name.split(separator: "/").contains(".."),
                  let hex = component.hashes?.first(where: { $0.alg == "SHA-256" })?.content, let digest = DigestIndex.hexBytes(Array(hex.utf8)[...]),
                  digest.count == 32 else {
                throw Failure(path: path, message: "file component \(String(reflecting: component.name)) has no SHA-256 or leaves the tree")
            }
            files[component.name] = digest
        }
        return ApprovedSet(root: root, files: files)
    }

    /// Adds the set's digests to `index` (paths under the root).
    public func add(to index: inout DigestIndex) {
        for (relative, digest) in files {
            index.add(root + "/" + relative, DigestIndex.Digest(algorithm: .sha256, bytes: digest), source: .approved)
        }
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
}
