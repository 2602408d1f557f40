#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// The cgroups the daemon watches when configured to watch only some (`cgroups:`, `units:`): the
/// cgroup v2 ids (directory inode numbers, what the kernel stamps on every event) of each
/// configured cgroup and everything below it, refreshed as cgroups come and go.
final class WatchedCgroups: Sendable {
    let paths: [String]
    let units: [String]
    private let ids = Mutex<Set<UInt64>>([])
    private let root: String

    /// nil when nothing is configured (the whole host is watched).
    init?(cgroups: [String], units: [String], root: String? = WatchedCgroups.cgroup2Root()) {
        guard !cgroups.isEmpty || !units.isEmpty, let root else { return nil }
        self.root = root
        paths = cgroups
        self.units = units
        refresh()
    }

    static func cgroup2Root() -> String? {
        guard let mounts = try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8) else { return nil }
        for line in mounts.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count >= 3, fields[2] == "cgroup2" { return String(fields[1]) }
        }
        return nil
    }

    /// Whether events stamped with `id` are watched.
    func contains(_ id: UInt64) -> Bool { ids.withLock { $0.contains(id) } }

    var count: Int { ids.withLock { $0.count } }

    /// Re-reads the hierarchy: configured paths, and for units every directory named like them.
    func refresh() {
        var found = Set<UInt64>()
        var starts = paths.map { root + ($0.hasPrefix("/") ? $0 : "/" + $0) }
        if !units.isEmpty {
            let wanted = Set(units)
            walk(root) { path in
                if wanted.contains((path as NSString).lastPathComponent) { starts.append(path) }
            }
        }
        for start in starts {
            walk(start) { path in
                var info = stat()
                if stat(path, &info) == 0 { found.insert(UInt64(info.st_ino)) }
            }
        }
        ids.withLock { $0 = found }
    }

    private func walk(_ directory: String, depth: Int = 0, _ visit: (String) -> Void) {
        var info = stat()
        guard depth < 32, stat(directory, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else { return }
        visit(directory)
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            let path = directory + "/" + entry
            var child = stat()
            if lstat(path, &child) == 0, (child.st_mode & S_IFMT) == S_IFDIR { walk(path, depth: depth + 1, visit) }
        }
    }
}
