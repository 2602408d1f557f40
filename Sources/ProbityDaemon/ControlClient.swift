#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// The client side of the control socket: what `probity status`, `probity violations`,
/// `probity follow` and `probity reload` speak.
public final class ControlClient: @unchecked Sendable {
    // Safety: to be used by one thread at a time (a connection is one conversation).
    private let fd: Int32
    private var buffer: [UInt8] = []
    public let path: String

    /// Connects to the daemon's socket.
    public init(path: String) throws(DaemonError) {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw DaemonError(operation: "create a socket", errno: errno) }
        guard var address = UnixSocketAddress(path) else {
            close(fd)
            throw DaemonError(operation: "connect to \(path) (path too long)", errno: ENAMETOOLONG)
        }
        let rc = address.withSockaddr { connect(fd, $0, $1) }
        guard rc == 0 else {
            let err = errno
            close(fd)
            throw DaemonError(operation: "connect to probityd at \(path) (is it running? are you root or in group probity?)", errno: err)
        }
    }

    deinit { close(fd) }

    /// Makes reads give up after `seconds` (they then throw EAGAIN), taken within 1 ms...1 day
    /// (NaN: 1 day), so that no value traps in the conversion.
    public func setReadTimeout(seconds: Double) {
        let seconds = seconds.isNaN ? 86_400 : min(max(seconds, 0.001), 86_400)
        var value = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1e6))
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Sends one request and returns the first line of the answer, parsed.
    public func request(_ object: [String: Any]) throws(DaemonError) -> [String: Any] {
        try send(object)
        guard let answer = try readObject() else { throw DaemonError(operation: "read probityd's answer (it closed)", errno: ECONNRESET) }
        return answer
    }

    public func send(_ object: [String: Any]) throws(DaemonError) {
        guard var data = try? JSONSerialization.data(withJSONObject: object) else {
            throw DaemonError(operation: "encode the request", errno: EINVAL)
        }
        data.append(UInt8(ascii: "\n"))
        var offset = 0
        while offset < data.count {
            let n = data.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw DaemonError(operation: "send the request to \(path)", errno: errno)
            }
            offset += n
        }
    }

    /// The next line from the daemon, parsed; nil when it closed the connection.
    public func readObject() throws(DaemonError) -> [String: Any]? {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Data(buffer[..<newline])
                buffer.removeSubrange(...newline)
                guard let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any] else {
                    throw DaemonError(operation: "read probityd's answer (not a JSON object)", errno: EPROTO)
                }
                return object
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw DaemonError(operation: "read from \(path)", errno: errno)
            }
            if n == 0 { return nil }
            buffer += chunk[0..<n]
        }
    }
}
