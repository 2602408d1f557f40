import Foundation

/// Reads dpkg's database: installed packages from `status`, their files from `info/*.list`.
public enum DpkgDatabase {
    /// One paragraph of `status` that matters here.
    struct StatusEntry {
        var version: String?
        var architecture: String?
        var installed: Bool
    }

    /// Adds every package with a file list under `root` (default `/var/lib/dpkg`) to `index`.
    /// Returns the number of packages added. A missing database adds nothing; a directory that
    /// cannot be listed is an error. One bad line (a `status` line that is no field, a `.list`
    /// line that is no absolute path, holds a NUL byte or is longer than PATH_MAX) costs that
    /// line, and a `.list` that cannot be read that package's files, with a warning naming the
    /// file and line. With `only`, adds only the files it keeps.
    @discardableResult
    public static func load(
        into index: inout PathIndex, root: String = "/var/lib/dpkg", only: FileNameFilter? = nil,
        warn: (PackageDatabaseError) -> Void = { _ in }
    ) throws -> Int {
        let info = root + "/info"
        guard FileManager.default.fileExists(atPath: info) else { return 0 }
        let status = readStatus(root + "/status", warn: warn)
        let listFiles: [String]
        do {
            listFiles = try FileManager.default.contentsOfDirectory(atPath: info).filter { $0.hasSuffix(".list") }.sorted()
        } catch {
            throw PackageDatabaseError(file: info, line: nil, message: "cannot list: \(error.localizedDescription)")
        }
        var added = 0
        for listName in listFiles {
            let qualified = String(listName.dropLast(".list".count))
            let parts = qualified.split(separator: ":", maxSplits: 1)
            guard let first = parts.first else { continue }
            let name = String(first)
            let arch = parts.count > 1 ? String(parts[1]) : nil
            let entry = status["\(name) \(arch ?? "")"] ?? status.first { $0.key.hasPrefix(name + " ") }?.value
            let package = InstalledPackage(
                name: name, version: entry?.version, ecosystem: "deb",
                purl: "pkg:deb/debian/\(name)" + (entry?.version.map { "@\($0)" } ?? "")
                    + ((entry?.architecture ?? arch).map { "?arch=\($0)" } ?? ""),
                source: .dpkg, qualifiedName: qualified)
            let id = index.add(package)
            added += 1
            let path = info + "/" + listName
            guard let data = DatabaseFiles.read(path, warn: warn) else { continue }
            var skipped = SkippedRows(file: path)
            var number = 0
            func add(_ line: UnsafeRawBufferPointer) {
                let text = String(decoding: line, as: UTF8.self)
                guard text.hasPrefix("/") else { skipped.skip(line: number, "\(DatabaseFiles.quoted(text)) is not an absolute path"); return }
                if let problem = DatabaseFiles.unusablePath(text) { skipped.skip(line: number, problem); return }
                index.addFile(text, package: id)
            }
            data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
                if let only {
                    only.forEachKeptLine(in: raw) { line in add(line) }
                } else {
                    var start = 0
                    while start < raw.count {
                        var end = start
                        while end < raw.count && raw[end] != UInt8(ascii: "\n") { end += 1 }
                        number += 1
                        if end > start { add(UnsafeRawBufferPointer(rebasing: raw[start..<end])) }
                        start = end + 1
                    }
                }
            }
            skipped.report(warn)
        }
        return added
    }

    /// Adds the merged-/usr aliases that exist on this system (`/bin` → `/usr/bin`, ...).
    public static func addUsrMergeAliases(into index: inout PathIndex, systemRoot: String = "") {
        for dir in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
            let path = systemRoot + "/" + dir
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: path) {
                let absolute = target.hasPrefix("/") ? target : "/" + target
                index.addAlias("/" + dir, target: absolute)
            }
        }
    }

    /// Package → (version, architecture, installed) from dpkg's `status` file, keyed "NAME ARCH".
    static func readStatus(_ path: String, warn: (PackageDatabaseError) -> Void = { _ in }) -> [String: StatusEntry] {
        guard let data = DatabaseFiles.read(path, limit: DatabaseFiles.maximumStatusBytes, warn: warn) else { return [:] }
        var out: [String: StatusEntry] = [:]
        var name: String?
        var entry = StatusEntry(installed: false)
        var lineNumber = 0
        var skipped = SkippedRows(file: path)
        func finish() {
            if let name { out["\(name) \(entry.architecture ?? "")"] = entry }
            name = nil
            entry = StatusEntry(installed: false)
        }
        for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.isEmpty { finish(); continue }
            if line.first == UInt8(ascii: " ") || line.first == UInt8(ascii: "\t") { continue }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
                skipped.skip(line: lineNumber, "expected 'Field: value'")
                continue
            }
            let field = String(decoding: line[line.startIndex..<colon], as: UTF8.self)
            let value = String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingCharacters(in: .whitespaces)
            switch field {
            case "Package": name = value
            case "Version": entry.version = value
            case "Architecture": entry.architecture = value
            case "Status": entry.installed = value.hasSuffix(" installed")
            default: break
            }
        }
        finish()
        skipped.report(warn)
        return out
    }
}
