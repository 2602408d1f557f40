#if canImport(Glibc)
import Glibc
#endif
import ProbityEvents

/// How package databases are read: every file through ``FileContents/untrusted(_:limit:whole:)``
/// (no link followed at the last component, regular files only, never blocking, capped while
/// reading), and one bad row costing that row alone, with a warning naming the file and line.
enum DatabaseFiles {
    /// The largest database file read whole (a RECORD, a dpkg `.list`, a `package-lock.json`).
    static let maximumBytes = 64 << 20
    /// dpkg's `status` (every installed package's paragraph).
    static let maximumStatusBytes = 256 << 20
    /// A `package.json`.
    static let maximumManifestBytes = 4 << 20
    /// How much of a METADATA / PKG-INFO is read: the headers come first; the description after
    /// them is never needed.
    static let metadataPrefixBytes = 64 << 10
    /// The longest path a row may name (PATH_MAX).
    static let maximumPathBytes = 4096

    /// The file's bytes, or nil with a warning (nil without one for a file that does not exist).
    static func read(_ path: String, limit: Int = maximumBytes, warn: (PackageDatabaseError) -> Void) -> [UInt8]? {
        do {
            return try FileContents.untrusted(path, limit: limit)
        } catch {
            if error.errno != ENOENT { warn(PackageDatabaseError(file: path, line: nil, message: "skipped: \(error.message)")) }
            return nil
        }
    }

    /// Calls `body` with each non-empty line of `data` and its number (from 1).
    static func forEachLine(_ data: [UInt8], _ body: (Int, ArraySlice<UInt8>) -> Void) {
        var number = 0
        for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            number += 1
            if !line.isEmpty { body(number, line) }
        }
    }

    /// Why a path taken from a database row is unusable: a NUL byte, longer than PATH_MAX; nil
    /// when it is usable.
    static func unusablePath(_ path: String) -> String? {
        if path.utf8.count > maximumPathBytes { return "a path of \(path.utf8.count) bytes (longer than \(maximumPathBytes))" }
        if path.utf8.contains(0) { return "a path with a NUL byte" }
        return nil
    }

    /// A path quoted in a warning, cut to a readable length.
    static func quoted(_ path: String) -> String {
        path.count > 160 ? "`\(path.prefix(160))…`" : "`\(path)`"
    }
}

/// The rows skipped in one database file: the first few are warnings with their line, the rest a
/// count (a hostile file with a million bad rows makes four warnings, not a million).
struct SkippedRows {
    let file: String
    private(set) var count = 0
    private var first: [PackageDatabaseError] = []
    static let shown = 3

    init(file: String) { self.file = file }

    mutating func skip(line: Int, _ message: String) {
        count += 1
        if first.count < Self.shown { first.append(PackageDatabaseError(file: file, line: line, message: message + "; row skipped")) }
    }

    func report(_ warn: (PackageDatabaseError) -> Void) {
        for warning in first { warn(warning) }
        if count > first.count {
            warn(PackageDatabaseError(file: file, line: nil, message: "\(count - first.count) more rows skipped"))
        }
    }
}
