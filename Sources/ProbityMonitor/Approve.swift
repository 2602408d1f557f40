#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbityAttribution
import ProbityEvents
import Synchronization

/// `probity approve DIR`: records the approved state of a tree (every regular file's SHA-256) as
/// a CycloneDX 1.6 SBOM, for `probity run --approved`.
public enum Approve {
    /// Hashes the tree on every core, with progress on standard error, and writes the set to
    /// `output` (0640, replacing it whole). Returns the exit status (0, or 2 with the reason).
    public static func run(directory: String, output: String, quiet: Bool) -> Int32 {
        let started = Date()
        let lastShown = Mutex<Date>(.distantPast)
        let set: ApprovedSet
        do {
            set = try ApprovedSet.approve(root: directory) { done, total in
                guard !quiet else { return }
                let show = lastShown.withLock { last -> Bool in
                    guard Date().timeIntervalSince(last) >= 1 || done == total else { return false }
                    last = Date()
                    return true
                }
                if show { printError("probity: approve: \(done)/\(total) files hashed\n") }
            }
        } catch {
            printError("probity: \(error)\n")
            return RunStatus.failure
        }
        let data = set.cycloneDX()
        let temporary = output + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o640)
        guard fd >= 0 else {
            printError("probity: \(output): cannot write: \(String(cString: strerror(errno)))\n")
            return RunStatus.failure
        }
        let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let closed = close(fd)
        guard written == data.count, closed == 0, rename(temporary, output) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            printError("probity: \(output): cannot write: \(reason)\n")
            return RunStatus.failure
        }
        if !quiet {
            printError(String(format: "probity: approved %d files of %@ in %.1f s: %@\n", set.files.count, set.root, Date().timeIntervalSince(started), output))
        }
        return 0
    }
}
