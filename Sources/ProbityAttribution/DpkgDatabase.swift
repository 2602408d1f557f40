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
    /// Returns the number of packages added. A missing database adds nothing; an unreadable
    /// or malformed one is an error naming the file and line.
    @discardableResult
    /// With `only`, adds only the files it keeps.
    public static func load(into index: inout PathIndex, root: String = "/var/lib/dpkg", only: FileNameFilter? = nil) throws -> Int {
        let info = root + "/info"
        guard FileManager.default.fileExists(atPath: info) else { return 0 }
        let status = try readStatus(root + "/status")
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
            let name = String(parts[0])
            let arch = parts.count > 1 ? String(parts[1]) : nil
            let entry = status["\(name) \(arch ?? "")"] ?? status.first { $0.key.hasPrefix(name + " ") }?.value
            let package = InstalledPackage(
                name: name, version: entry?.version, ecosystem: "deb",
                purl: "pkg:deb/debian/\(name)" + (entry?.version.map { "@\($0)" } ?? "")
                    + ((entry?.architecture ?? arch).map { "?arch=\($0)" } ?? ""),
                source: .dpkg, qualifiedName: qualified)
            let id = index.add(package)
            let path = info + "/" + listName
            guard let data = FileManager.default.contents(atPath: path) else {
                throw PackageDatabaseError(file: path, line: nil, message: "cannot read")
            }
            if let only {
                data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
                    only.forEachKeptLine(in: raw) { line in index.addFile(String(decoding: line, as: UTF8.self), package: id) }
                }
            } else {
                for line in data.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
                    index.addFile(String(decoding: line, as: UTF8.self), package: id)
                }
            }
            added += 1
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
    static func readStatus(_ path: String) throws -> [String: StatusEntry] {
        guard let data = FileManager.default.contents(atPath: path) else {
            if !FileManager.default.fileExists(atPath: path) { return [:] }
            throw PackageDatabaseError(file: path, line: nil, message: "cannot read")
        }
        var out: [String: StatusEntry] = [:]
        var name: String?
        var entry = StatusEntry(installed: false)
        var lineNumber = 0
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
                throw PackageDatabaseError(file: path, line: lineNumber, message: "expected 'Field: value'")
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
        return out
    }
}
