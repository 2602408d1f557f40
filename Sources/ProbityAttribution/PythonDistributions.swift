import Foundation
import ProbityEvents

/// Reads installed Python distributions: `*.dist-info/RECORD` (with sha256) and
/// `*.egg-info/installed-files.txt`.
public enum PythonDistributions {
    /// Adds every distribution found in the `site-packages` (or `dist-packages`) directory
    /// `sitePackages` to `index`. Returns the number added. With `only`, adds only the files it
    /// keeps (roots are added all the same).
    ///
    /// A distribution owns only files inside its site-packages' installation prefix (PREFIX of
    /// PREFIX/lib/python3.X/site-packages: a venv's `bin/`, `/usr/local/bin/`): a RECORD row naming
    /// anything else (`/etc/shadow`, `../../../../usr/bin/ls`) is skipped with a warning, as is a
    /// row without a path, with a NUL byte or longer than PATH_MAX; the rest of the file counts.
    @discardableResult
    public static func load(
        into index: inout PathIndex, sitePackages: String, only: FileNameFilter? = nil, warn: (PackageDatabaseError) -> Void = { _ in }
    ) throws -> Int {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: sitePackages) else { return 0 }
        var added = 0
        var topLevelOwners: [String: Set<UInt32>] = [:]
        let needRoots = only?.anyPath(under: sitePackages) ?? true
        let prefix = installPrefix(of: sitePackages)
        for entry in entries.sorted() {
            let dir = sitePackages + "/" + entry
            let isDistInfo = entry.hasSuffix(".dist-info")
            guard isDistInfo || entry.hasSuffix(".egg-info") else { continue }
            let meta = isDistInfo ? readMetadata(dir + "/METADATA", warn: warn)
                : (readMetadata(dir + "/PKG-INFO", warn: { _ in }) ?? readMetadata(dir, warn: { _ in }))
            guard let meta else { continue }
            let id = index.add(InstalledPackage(name: meta.name, version: meta.version, ecosystem: "pypi", source: .pip))
            index.addRoot(dir, package: id)
            added += 1
            // dist-info: RECORD's first column, relative to site-packages; egg-info: one path a
            // line in installed-files.txt, relative to the egg-info directory.
            let list = isDistInfo ? dir + "/RECORD" : dir + "/installed-files.txt"
            let base = isDistInfo ? sitePackages : dir
            guard let data = DatabaseFiles.read(list, warn: warn) else { continue }
            var skipped = SkippedRows(file: list)
            DatabaseFiles.forEachLine(data) { n, row in
                if let only, !needRoots, isDistInfo, let first = row.first, first != UInt8(ascii: "\"") {
                    // A look-up of paths outside this directory: only the rows with their names
                    // (such as a console script in ../../../bin) matter, not the top-level roots;
                    // the first field's name is checked before any string is made.
                    let comma = row.firstIndex(of: UInt8(ascii: ",")) ?? row.endIndex
                    guard only.keeps(row[row.startIndex..<comma]) else { return }
                }
                let field = isDistInfo ? firstCSVField(row) : String(decoding: row.last == UInt8(ascii: "\r") ? row.dropLast() : row, as: UTF8.self)
                guard let relative = field, !relative.isEmpty else { skipped.skip(line: n, "a row without a path"); return }
                let path: String
                switch recordedPath(relative, base: base, prefix: prefix) {
                case .success(let p): path = p
                case .failure(let refusal): skipped.skip(line: n, refusal.message); return
                }
                if only?.keeps(relative) ?? true { index.addFile(path, package: id) }
                if needRoots, isDistInfo, let top = topLevel(path, sitePackages: sitePackages) { topLevelOwners[top, default: []].insert(id) }
            }
            skipped.report(warn)
        }
        // A top-level directory that one distribution alone populates is its root (so a file
        // dropped there later is still that package's); namespace directories are left alone.
        for (dir, owners) in topLevelOwners where owners.count == 1 {
            if let id = owners.first { index.addRoot(dir, package: id) }
        }
        return added
    }

    /// The installation prefix of a site-packages directory: PREFIX for
    /// PREFIX/lib/python3.X/site-packages (or dist-packages, lib64, lib/python3), else the
    /// directory itself (and itself when PREFIX would be `/`).
    public static func installPrefix(of sitePackages: String) -> String {
        let parts = sitePackages.split(separator: "/")
        guard parts.count >= 4, let leaf = parts.last, leaf == "site-packages" || leaf == "dist-packages",
              parts[parts.count - 2].hasPrefix("python"), parts[parts.count - 3].hasPrefix("lib") else { return sitePackages }
        return "/" + parts.dropLast(3).joined(separator: "/")
    }

    /// A row's path refused: why.
    public struct RowRefusal: Error, Sendable { public var message: String }

    /// The absolute, normalised path a RECORD / installed-files.txt row names (relative to
    /// `base`), when it is usable and stays inside `prefix`.
    public static func recordedPath(_ relative: String, base: String, prefix: String) -> Result<String, RowRefusal> {
        if let problem = DatabaseFiles.unusablePath(relative) { return .failure(RowRefusal(message: problem)) }
        let path = PathText.normalize(relative.hasPrefix("/") ? relative : base + "/" + relative)
        guard path.hasPrefix(prefix == "/" ? "/" : prefix + "/") else {
            return .failure(RowRefusal(message: "\(DatabaseFiles.quoted(relative)) is \(DatabaseFiles.quoted(path)), outside the distribution's prefix \(prefix)"))
        }
        return .success(path)
    }

    /// The default places to look: system and user site-packages of every Python 3 found (with
    /// `home` nil, the system's alone: `/usr/lib` and `/usr/local/lib`).
    public static func defaultSitePackages(home: String? = NSHomeDirectory()) -> [String] {
        var out: [String] = []
        let fm = FileManager.default
        var bases = ["/usr/lib", "/usr/local/lib"]
        if let home {
            bases.append(home + "/.local/lib")
            bases += ((try? fm.contentsOfDirectory(atPath: home + "/.pyenv/versions")) ?? []).map { home + "/.pyenv/versions/\($0)/lib" }
        }
        for base in bases {
            for python in ((try? fm.contentsOfDirectory(atPath: base)) ?? []).sorted() where python.hasPrefix("python3") {
                for leaf in ["site-packages", "dist-packages"] {
                    let dir = "\(base)/\(python)/\(leaf)"
                    if fm.fileExists(atPath: dir) { out.append(dir) }
                }
            }
        }
        return out
    }

    struct Metadata { var name: String; var version: String? }

    /// Name and Version from a METADATA / PKG-INFO file (RFC 822 style headers): its first
    /// ``DatabaseFiles/metadataPrefixBytes`` at most, read without following a link or blocking
    /// (a PKG-INFO in a monitored process's working directory is the process's to write).
    static func readMetadata(_ path: String, warn: (PackageDatabaseError) -> Void = { _ in }) -> Metadata? {
        guard let data = try? FileContents.untrusted(path, limit: DatabaseFiles.metadataPrefixBytes, whole: false) else { return nil }
        var name: String?, version: String?
        for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            if line.isEmpty || line.elementsEqual([UInt8(ascii: "\r")]) { break }
            let text = String(decoding: line, as: UTF8.self)
            if text.hasPrefix("Name:") { name = text.dropFirst(5).trimmingCharacters(in: .whitespacesAndNewlines) }
            if text.hasPrefix("Version:") { version = text.dropFirst(8).trimmingCharacters(in: .whitespacesAndNewlines) }
        }
        guard let name, !name.isEmpty, DatabaseFiles.unusablePath(name) == nil else {
            if name != nil { warn(PackageDatabaseError(file: path, line: nil, message: "an unusable Name; skipped")) }
            return nil
        }
        return Metadata(name: name, version: version)
    }

    /// The first field of a RECORD row (CSV: quoted when it holds a comma or a quote).
    static func firstCSVField(_ row: ArraySlice<UInt8>) -> String? {
        var bytes = row
        if bytes.last == UInt8(ascii: "\r") { bytes = bytes.dropLast() }
        guard let first = bytes.first else { return nil }
        if first != UInt8(ascii: "\"") {
            let end = bytes.firstIndex(of: UInt8(ascii: ",")) ?? bytes.endIndex
            return String(decoding: bytes[bytes.startIndex..<end], as: UTF8.self)
        }
        var out: [UInt8] = []
        var i = bytes.index(after: bytes.startIndex)
        while i < bytes.endIndex {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                let next = bytes.index(after: i)
                if next < bytes.endIndex && bytes[next] == UInt8(ascii: "\"") { out.append(b); i = bytes.index(after: next); continue }
                return String(decoding: out, as: UTF8.self)
            }
            out.append(b)
            i = bytes.index(after: i)
        }
        return nil  // unterminated quote
    }

    /// The top-level directory of site-packages that `path` (absolute, normalised) is in, unless
    /// it is a distribution's metadata, a cache or a data directory.
    static func topLevel(_ path: String, sitePackages: String) -> String? {
        guard path.hasPrefix(sitePackages + "/") else { return nil }
        let rest = path.dropFirst(sitePackages.count + 1)
        guard let slash = rest.firstIndex(of: "/") else { return nil }
        let top = String(rest[..<slash])
        if top.hasSuffix(".dist-info") || top.hasSuffix(".egg-info") || top == "__pycache__" || top.hasSuffix(".data") { return nil }
        return sitePackages + "/" + top
    }
}
