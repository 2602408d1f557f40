import Foundation
import ProbityEvents

/// Reads installed Python distributions: `*.dist-info/RECORD` (with sha256) and
/// `*.egg-info/installed-files.txt`.
public enum PythonDistributions {
    /// Adds every distribution found in the `site-packages` (or `dist-packages`) directory
    /// `sitePackages` to `index`. Returns the number added.
    @discardableResult
    /// With `only`, adds only the files it keeps (roots are added all the same).
    public static func load(into index: inout PathIndex, sitePackages: String, only: FileNameFilter? = nil) throws -> Int {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: sitePackages) else { return 0 }
        var added = 0
        var topLevelOwners: [String: Set<UInt32>] = [:]
        let needRoots = only?.anyPath(under: sitePackages) ?? true
        for entry in entries.sorted() {
            let dir = sitePackages + "/" + entry
            if entry.hasSuffix(".dist-info") {
                guard let meta = readMetadata(dir + "/METADATA") else { continue }
                let id = index.add(InstalledPackage(name: meta.name, version: meta.version, ecosystem: "pypi", source: .pip))
                index.addRoot(dir, package: id)
                let recordPath = dir + "/RECORD"
                if let only, !needRoots, let data = FileManager.default.contents(atPath: recordPath) {
                    // A look-up of paths outside this directory: only the rows with their names
                    // (such as a console script in ../../../bin) matter, not the top-level roots.
                    data.withUnsafeBytes { raw in
                        var start = 0
                        while start < raw.count {
                            var end = start
                            while end < raw.count && raw[end] != UInt8(ascii: "\n") { end += 1 }
                            let row = UnsafeRawBufferPointer(rebasing: raw[start..<end])
                            start = end + 1
                            // The first field's name, before any string is made (quoted rows: parsed).
                            if let first = row.first, first != UInt8(ascii: "\"") {
                                var comma = 0
                                while comma < row.count && row[comma] != UInt8(ascii: ",") { comma += 1 }
                                guard only.keeps(UnsafeRawBufferPointer(rebasing: row[0..<comma])) else { continue }
                            }
                            guard let relative = firstCSVField(ArraySlice(row)), !relative.isEmpty, only.keeps(relative) else { continue }
                            index.addFile(PathText.normalize(relative.hasPrefix("/") ? relative : sitePackages + "/" + relative), package: id)
                        }
                    }
                } else if let data = FileManager.default.contents(atPath: recordPath).map({ [UInt8]($0) }) {
                    for (n, row) in data.split(separator: UInt8(ascii: "\n")).enumerated() {
                        guard let relative = firstCSVField(row), !relative.isEmpty else {
                            throw PackageDatabaseError(file: recordPath, line: n + 1, message: "a row without a path")
                        }
                        if only?.keeps(relative) ?? true {
                            let path = PathText.normalize(relative.hasPrefix("/") ? relative : sitePackages + "/" + relative)
                            index.addFile(path, package: id)
                        }
                        if let top = topLevel(relative) { topLevelOwners[sitePackages + "/" + top, default: []].insert(id) }
                    }
                }
                added += 1
            } else if entry.hasSuffix(".egg-info") {
                let pkgInfo = dir + "/PKG-INFO"
                guard let meta = readMetadata(FileManager.default.fileExists(atPath: pkgInfo) ? pkgInfo : dir) else { continue }
                let id = index.add(InstalledPackage(name: meta.name, version: meta.version, ecosystem: "pypi", source: .pip))
                index.addRoot(dir, package: id)
                if let data = FileManager.default.contents(atPath: dir + "/installed-files.txt") {
                    for line in data.split(separator: UInt8(ascii: "\n")) where !line.isEmpty && (only?.keeps(ArraySlice(line)) ?? true) {
                        let relative = String(decoding: line, as: UTF8.self)
                        index.addFile(PathText.normalize(dir + "/" + relative), package: id)
                    }
                }
                added += 1
            }
        }
        // A top-level directory that one distribution alone populates is its root (so a file
        // dropped there later is still that package's); namespace directories are left alone.
        for (dir, owners) in topLevelOwners where owners.count == 1 {
            if let id = owners.first { index.addRoot(dir, package: id) }
        }
        return added
    }

    /// The default places to look: system and user site-packages of every Python 3 found.
    public static func defaultSitePackages(home: String = NSHomeDirectory()) -> [String] {
        var out: [String] = []
        let fm = FileManager.default
        let bases = ["/usr/lib", "/usr/local/lib", home + "/.local/lib"]
            + ((try? fm.contentsOfDirectory(atPath: home + "/.pyenv/versions")) ?? []).map { home + "/.pyenv/versions/\($0)/lib" }
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

    /// Name and Version from a METADATA / PKG-INFO file (RFC 822 style headers).
    static func readMetadata(_ path: String) -> Metadata? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        var name: String?, version: String?
        for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            if line.isEmpty || line.elementsEqual([UInt8(ascii: "\r")]) { break }
            let text = String(decoding: line, as: UTF8.self)
            if text.hasPrefix("Name:") { name = text.dropFirst(5).trimmingCharacters(in: .whitespacesAndNewlines) }
            if text.hasPrefix("Version:") { version = text.dropFirst(8).trimmingCharacters(in: .whitespacesAndNewlines) }
        }
        return name.map { Metadata(name: $0, version: version) }
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

    static func topLevel(_ relative: String) -> String? {
        guard !relative.hasPrefix(".."), let slash = relative.firstIndex(of: "/") else { return nil }
        let top = String(relative[..<slash])
        if top.hasSuffix(".dist-info") || top.hasSuffix(".egg-info") || top == "__pycache__" || top.hasSuffix(".data") { return nil }
        return top
    }
}
