import Foundation
import ProbityEvents

/// The content hash each installed file should have, as its package database or SBOM records it:
/// dpkg's `*.md5sums` (MD5), pip's `RECORD` (SHA-256), SBOM file entries (SHA-256, SHA-1 or MD5,
/// the strongest given).
///
/// Paths are stored (compactly, in a ``PathTable``) and a lookup compares the looked-up path with
/// the stored one: a path crafted so that its hash equals a recorded file's finds nothing, never
/// that file's digest. Digests are stored inline.
///
/// A listed path is stored as the kernel names the file: its directory resolved through symbolic
/// links (dpkg lists `bin/zdiff`, which a merged-/usr system runs as `/usr/bin/zdiff`; a
/// symlinked directory of a venv or a release). Each file is also found by its object (device and
/// inode, from ``addObjects()``), so a bind mount or a hard link of a listed file is the same file.
public struct DigestIndex: Sendable {
    /// One expected digest.
    public struct Digest: Sendable, Hashable {
        public var algorithm: FileHash.Algorithm
        /// The digest bytes (16, 20 or 32).
        public var bytes: [UInt8]

        public var hex: String { bytes.map { String(format: "%02x", $0) }.joined() }
    }

    /// Where a digest came from, for evidence.
    public enum Source: String, Sendable { case dpkg, pip, sbom, approved }

    /// Path → index into ``entries``.
    private var paths = PathTable()
    private var entries: [(Digest, Source)] = []
    /// The canonical path of each entry (for ``addObjects()``).
    private var entryPaths: [String] = []
    /// (device, inode) → index into ``entries``.
    private var objects: [FileObject: UInt32] = [:]
    /// Directories already resolved while adding: listed → canonical.
    private var resolvedDirectories: [String: String] = [:]

    /// Test hook: keys are `hash & keyMask` (0 makes every path collide). Set it before adding.
    var keyMask: UInt64 {
        get { paths.keyMask }
        set { paths.keyMask = newValue }
    }

    public init() {}

    /// The number of paths with a recorded digest.
    public var count: Int { entries.count }

    /// The expected digest of `path`, if one is recorded.
    public func expected(for path: String) -> (digest: Digest, source: Source)? {
        guard let index = PathTable.withBytes(path, { paths.value($0) }) else { return nil }
        let (digest, source) = entries[Int(index)]
        return (digest, source)
    }

    /// The expected digest of the file `object` is, if one is recorded under any of its names.
    public func expected(for object: FileObject) -> (digest: Digest, source: Source, path: String)? {
        guard let index = objects[object] else { return nil }
        let (digest, source) = entries[Int(index)]
        return (digest, source, entryPaths[Int(index)])
    }

    /// Records the digest `path` should have (its directory resolved through links, see the type's
    /// description); a later record for the same file replaces it.
    public mutating func add(_ path: String, _ digest: Digest, source: Source) {
        let path = canonical(path)
        let next = UInt32(entries.count)
        let (slot, inserted) = PathTable.withBytes(path) { paths.slot(for: $0, inserting: next) }
        if inserted {
            entries.append((digest, source))
            entryPaths.append(path)
        } else {
            entries[Int(paths.value(at: slot))] = (digest, source)
        }
    }

    /// `path` with its directory resolved through symbolic links (cached per directory); as it
    /// is when the directory does not exist.
    mutating func canonical(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return path }
        let directory = String(path[..<slash])
        let resolved: String
        if let known = resolvedDirectories[directory] {
            resolved = known
        } else {
            if let real = realpath(directory, nil) {
                resolved = String(cString: real)
                free(real)
            } else {
                resolved = directory
            }
            resolvedDirectories[directory] = resolved
        }
        return resolved == directory ? path : (resolved == "/" ? "" : resolved) + path[slash...]
    }

    /// Finds every recorded file's object (a `stat` each), so that a lookup by device and inode
    /// finds it under any name. Files that do not exist are skipped.
    public mutating func addObjects() {
        resolvedDirectories = [:]
        objects.reserveCapacity(entries.count)
        for (i, path) in entryPaths.enumerated() {
            var info = stat()
            guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { continue }
            objects[FileObject(statDevice: UInt64(info.st_dev), inode: UInt64(info.st_ino))] = UInt32(i)
        }
    }

    /// Digests from dpkg (`root/info/*.md5sums`, the paths they list under `fileRoot`) and the
    /// RECORDs of `sitePackages`. Call ``addObjects()`` once everything is added.
    public static func discover(dpkgRoot: String? = "/var/lib/dpkg", fileRoot: String = "", sitePackages: [String]) -> DigestIndex {
        var index = DigestIndex()
        if let root = dpkgRoot { index.addDpkg(info: root + "/info", fileRoot: fileRoot) }
        for site in Set(sitePackages).sorted() { index.addPythonRecords(sitePackages: site) }
        return index
    }

    /// `<md5 hex>  <path without leading />` per line; the paths are under `fileRoot` (empty: `/`).
    public mutating func addDpkg(info: String, fileRoot: String = "") {
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: info) else { return }
        for file in files where file.hasSuffix(".md5sums") {
            guard let data = DatabaseFiles.read(info + "/" + file, warn: { _ in }) else { continue }
            for line in data.split(separator: UInt8(ascii: "\n")) {
                guard line.count > 34, let bytes = Self.hexBytes(line.prefix(32)) else { continue }
                let path = fileRoot + "/" + String(decoding: line.dropFirst(34), as: UTF8.self)
                add(path, Digest(algorithm: .md5, bytes: bytes), source: .dpkg)
            }
        }
    }

    /// `path,sha256=<urlsafe base64>,size` rows of every `*.dist-info/RECORD`.
    public mutating func addPythonRecords(sitePackages: String) {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: sitePackages) else { return }
        let prefix = PythonDistributions.installPrefix(of: sitePackages)
        for entry in entries where entry.hasSuffix(".dist-info") {
            guard let data = DatabaseFiles.read(sitePackages + "/" + entry + "/RECORD", warn: { _ in }) else { continue }
            for row in data.split(separator: UInt8(ascii: "\n")) {
                let fields = row.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false)
                guard fields.count >= 2, let relative = PythonDistributions.firstCSVField(row), !relative.isEmpty else { continue }
                let hash = String(decoding: fields[fields.count - 2], as: UTF8.self)
                guard hash.hasPrefix("sha256="), let bytes = Self.base64URL(String(hash.dropFirst(7))), bytes.count == 32 else { continue }
                // A row naming a file outside the distribution's prefix claims no digest for it.
                guard case .success(let path) = PythonDistributions.recordedPath(relative, base: sitePackages, prefix: prefix) else { continue }
                add(path, Digest(algorithm: .sha256, bytes: bytes), source: .pip)
            }
        }
    }

    /// File hashes an SBOM lists (paths relative to `root`).
    public mutating func addSBOM(_ document: SBOMDocument, root: String) {
        func best(_ hashes: [String: String]) -> Digest? {
            for (name, algorithm) in [("SHA-256", FileHash.Algorithm.sha256), ("SHA256", .sha256), ("SHA-1", .sha1), ("SHA1", .sha1), ("MD5", .md5)] {
                if let hex = hashes.first(where: { $0.key.uppercased() == name })?.value, let bytes = Self.hexBytes(Array(hex.utf8)[...]) {
                    return Digest(algorithm: algorithm, bytes: bytes)
                }
            }
            return nil
        }
        for file in document.files {
            guard let digest = best(file.hashes) else { continue }
            let path = file.path.hasPrefix("/") ? file.path : PathText.normalize(root + "/" + file.path)
            add(path, digest, source: .sbom)
        }
    }

    static func hexBytes(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        guard text.count % 2 == 0, !text.isEmpty else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(text.count / 2)
        var high: UInt8?
        for c in text {
            let v: UInt8
            switch c {
            case 48...57: v = c - 48
            case 97...102: v = c - 87
            case 65...70: v = c - 55
            default: return nil
            }
            if let h = high { out.append(h << 4 | v); high = nil } else { high = v }
        }
        return out
    }

    static func base64URL(_ text: String) -> [UInt8]? {
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while standard.count % 4 != 0 { standard += "=" }
        return Data(base64Encoded: standard).map { [UInt8]($0) }
    }
}
