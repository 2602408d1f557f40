#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import CProbityBPF

/// A failure to open, load or attach the BPF programs, or to use one of their maps.
///
/// Carries the operation that failed, the errno, and the last lines libbpf logged before it.
public struct ProbeError: Error, CustomStringConvertible, Sendable {
    /// What was being done, e.g. `"load BPF object"` or `"attach probity_openat_exit"`.
    public var operation: String
    /// The errno value (positive), 0 if none applies.
    public var errno: Int32
    /// The libbpf / verifier log lines that explain it, if any.
    public var libbpfLog: [String]

    public init(operation: String, errno: Int32, libbpfLog: [String] = LibbpfLog.shared.recent()) {
        self.operation = operation
        self.errno = errno
        self.libbpfLog = libbpfLog
    }

    public var description: String {
        var text = "\(operation) failed"
        if errno != 0 { text += ": \(String(cString: strerror(errno))) (errno \(errno))" }
        if errno == EPERM || errno == EACCES {
            text += "; Probity needs root (or CAP_BPF, CAP_PERFMON, CAP_SYS_RESOURCE and read access to tracefs)"
        }
        let tail = libbpfLog.suffix(12)
        if !tail.isEmpty { text += "\nlibbpf:\n  " + tail.joined(separator: "\n  ") }
        return text
    }
}

/// Collects libbpf's log lines (it logs through one process-wide callback), keeping the last
/// few hundred so that errors can show what libbpf and the verifier said.
public final class LibbpfLog: Sendable {
    public static let shared = LibbpfLog()

    private let lines = Mutex<[String]>([])
    private let limit = 400

    private init() {
        probity_set_libbpf_log { level, line in
            guard let line else { return }
            var text = String(cString: line)
            while text.hasSuffix("\n") { text.removeLast() }
            LibbpfLog.shared.append(level: level, text)
        }
    }

    /// Installs the hook (idempotent; the first use of `shared` does it).
    public static func install() { _ = shared }

    func append(level: Int32, _ line: String) {
        lines.withLock { lines in
            lines.append(line)
            if lines.count > limit { lines.removeFirst(lines.count - limit) }
        }
    }

    /// The most recent lines, oldest first.
    public func recent() -> [String] { lines.withLock { $0 } }

    /// Forgets collected lines (before an operation whose log is wanted alone).
    public func clear() { lines.withLock { $0.removeAll() } }
}
