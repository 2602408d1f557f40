#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A Unix-socket client for tests of the control socket that does exactly what a test says,
/// including nothing: it sends raw bytes (half a line, a flood), reads line by line with a
/// deadline, and tells a server's close from silence.
// Safety: one thread reads (and owns `buffer`), another may send at the same time.
public final class RawSocketClient: @unchecked Sendable {
    public let fd: Int32
    private var buffer: [UInt8] = []

    /// A socket, not yet connected.
    public init() throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }

    public convenience init(path: String) throws {
        try self.init()
        try connect(path)
    }

    public func connect(_ path: String) throws {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        guard path.utf8.count < MemoryLayout.size(ofValue: address.sun_path) else { throw POSIXError(.ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, b) in path.utf8.enumerated() { raw[i] = b } }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }

    deinit { close(fd) }

    /// Sends everything (blocking), or as much as the socket takes at once when `nonBlocking`.
    @discardableResult
    public func send(_ text: String, nonBlocking: Bool = false) -> Int { send(Array(text.utf8), nonBlocking: nonBlocking) }

    @discardableResult
    public func send(_ bytes: [UInt8], nonBlocking: Bool = false) -> Int {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return Glibc.send(fd, base + offset, raw.count - offset, Int32(MSG_NOSIGNAL) | (nonBlocking ? Int32(MSG_DONTWAIT) : 0))
            }
            if n < 0 {
                if errno == EINTR { continue }
                break
            }
            offset += n
        }
        return offset
    }

    /// The next line, or nil at the end of the stream or after `seconds`.
    public func line(seconds: Double = 5) -> String? {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            if let newline = buffer.firstIndex(of: 10) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                return line
            }
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { return nil }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, Int32(left * 1000) + 1) > 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return nil }
            buffer += chunk[0..<n]
        }
    }

    /// The answer to one request line, parsed; nil when none came within `seconds` or it is not
    /// a JSON object.
    public func ask(_ request: String, seconds: Double = 5) -> [String: Any]? {
        send(request + "\n")
        guard let line = line(seconds: seconds) else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
    }

    /// The answer to `request` serialised as one line: `[:]` when none came, `["unparsed": line]`
    /// when it is not a JSON object.
    public func ask(_ request: [String: Any], seconds: Double = 5) -> [String: Any] {
        guard var data = try? JSONSerialization.data(withJSONObject: request) else { return [:] }
        data.append(10)
        return ask(raw: Array(data), seconds: seconds)
    }

    /// The answer to bytes sent as they are (`[:]` when none came).
    public func ask(raw: [UInt8], seconds: Double = 5) -> [String: Any] {
        send(raw)
        guard let line = line(seconds: seconds) else { return [:] }
        return ((try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]) ?? ["unparsed": line]
    }

    /// Whether the other end closed the connection within `seconds`, without reading what it sent.
    public func peerClosed(within seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while deadline.timeIntervalSinceNow > 0 {
            var poller = pollfd(fd: fd, events: 0x2000 /* POLLRDHUP */, revents: 0)
            if poll(&poller, 1, 50) > 0, poller.revents & (Int16(POLLHUP | POLLERR) | 0x2000) != 0 { return true }
        }
        return false
    }

    /// Reads and drops everything until the server closes (true) or `seconds` pass (false).
    public func closedByServer(within seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while deadline.timeIntervalSinceNow > 0 {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, Int32(deadline.timeIntervalSinceNow * 1000) + 1) > 0 else { continue }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return true }
        }
        return false
    }
}
