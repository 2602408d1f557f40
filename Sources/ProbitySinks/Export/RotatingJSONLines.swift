#if canImport(Glibc)
import Glibc
#endif

/// JSON lines appended to a file that is rotated by size, the way log shippers expect (Vector's
/// and Fluent Bit's file sources, the OpenTelemetry Collector's `filelog` receiver): the full file
/// is renamed to `NAME.1` (older ones shift to `.2`, ...), and a new file is started. Readers that
/// follow the file by inode finish the renamed one, then continue with the new one; nothing is
/// truncated in place, so nothing is read twice or lost.
public final class RotatingJSONLines: @unchecked Sendable {
    // Safety: used from one thread (the daemon's pipeline thread).
    public let path: String
    public let maximumBytes: Int
    public let keep: Int
    private var fd: Int32 = -1
    private var size = 0

    /// The error of a write or rotation, with the file.
    public struct ExportError: Error, CustomStringConvertible {
        public var path: String
        public var errno: Int32
        public var operation: String
        public var description: String { "\(path): cannot \(operation): \(String(cString: strerror(errno)))" }
    }

    public init(path: String, maximumBytes: Int, keep: Int) throws(ExportError) {
        self.path = path
        self.maximumBytes = max(maximumBytes, 4096)
        self.keep = max(keep, 1)
        try open()
    }

    deinit { if fd >= 0 { close(fd) } }

    private func open() throws(ExportError) {
        fd = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw ExportError(path: path, errno: errno, operation: "open") }
        var info = stat()
        size = fstat(fd, &info) == 0 ? Int(info.st_size) : 0
    }

    /// Appends one line (a newline is added), rotating first when it would not fit.
    public func append(_ line: [UInt8]) throws(ExportError) {
        if size > 0 && size + line.count + 1 > maximumBytes { try rotate() }
        var bytes = line
        bytes.append(UInt8(ascii: "\n"))
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ExportError(path: path, errno: errno, operation: "write")
            }
            offset += n
        }
        size += bytes.count
    }

    private func rotate() throws(ExportError) {
        close(fd)
        fd = -1
        unlink("\(path).\(keep)")
        if keep > 1 {
            for index in stride(from: keep - 1, through: 1, by: -1) { rename("\(path).\(index)", "\(path).\(index + 1)") }
        }
        guard rename(path, "\(path).1") == 0 else { throw ExportError(path: path, errno: errno, operation: "rotate") }
        try open()
    }
}

/// Structured entries for journald's native protocol (one datagram of `KEY=value` lines to
/// `/run/systemd/journal/socket`), so journald receivers ship violations with their fields.
public final class JournalWriter: Sendable {
    private let address: [UInt8]

    /// nil when no journal listens at `socketPath`.
    public init?(socketPath: String = "/run/systemd/journal/socket") {
        guard access(socketPath, W_OK) == 0, socketPath.utf8.count < 108 else { return nil }
        address = Array(socketPath.utf8)
    }

    /// Sends one entry; values with newlines use the protocol's length-prefixed form. Never blocks:
    /// when journald is not keeping up the entry is dropped and false returned (the violation is
    /// already in the store and the export file).
    @discardableResult
    public func send(_ fields: [(String, String)]) -> Bool {
        var datagram: [UInt8] = []
        for (key, value) in fields {
            let bytes = Array(value.utf8)
            if bytes.contains(UInt8(ascii: "\n")) {
                datagram += Array(key.utf8) + [UInt8(ascii: "\n")]
                var length = UInt64(bytes.count).littleEndian
                withUnsafeBytes(of: &length) { datagram += $0 }
                datagram += bytes + [UInt8(ascii: "\n")]
            } else {
                datagram += Array("\(key)=".utf8) + bytes + [UInt8(ascii: "\n")]
            }
        }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var target = sockaddr_un()
        target.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &target.sun_path) { raw in for (i, b) in address.enumerated() { raw[i] = b } }
        let sent = datagram.withUnsafeBytes { raw in
            withUnsafePointer(to: &target) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT), $0,
                           socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
        }
        return sent == datagram.count
    }
}
