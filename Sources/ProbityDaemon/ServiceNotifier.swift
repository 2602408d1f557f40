#if canImport(Glibc)
import Glibc
#endif

/// systemd's readiness protocol (sd_notify(3)): datagrams such as `READY=1`, `STATUS=...` and
/// `WATCHDOG=1` to the socket named by `$NOTIFY_SOCKET`. Without that variable (not started by
/// systemd) every call does nothing.
public final class ServiceNotifier: Sendable {
    private let address: [UInt8]?
    /// `$WATCHDOG_USEC`: how often systemd expects `WATCHDOG=1` (nil: no watchdog).
    public let watchdogMicroseconds: UInt64?

    public init(environment: [String: String]) {
        if let path = environment["NOTIFY_SOCKET"], !path.isEmpty {
            var bytes = Array(path.utf8)
            if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }  // the abstract namespace
            address = bytes
        } else {
            address = nil
        }
        watchdogMicroseconds = environment["WATCHDOG_USEC"].flatMap(UInt64.init).flatMap { $0 > 0 ? $0 : nil }
    }

    public var isActive: Bool { address != nil }

    /// Sends `state` (newline-separated `KEY=value` assignments); returns whether it was sent.
    @discardableResult
    public func notify(_ state: String) -> Bool {
        guard let address else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        guard var target = UnixSocketAddress(address) else { return false }
        let sent = state.utf8CString.withUnsafeBufferPointer { text in
            target.withSockaddr { sendto(fd, text.baseAddress, text.count - 1, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT), $0, $1) }
        }
        return sent >= 0
    }
}
