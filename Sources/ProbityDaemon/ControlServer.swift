#if canImport(Glibc)
import Glibc
#endif
import CProbityBPF
import Foundation
import Synchronization

/// Who is on the other end of a control connection (SO_PEERCRED).
public struct PeerCredentials: Sendable, Hashable {
    public var pid: UInt32
    public var uid: UInt32
    public var gid: UInt32
}

/// Answers control requests; called on the server's thread, one request at a time.
public protocol ControlService: AnyObject, Sendable {
    /// The response to one request (a JSON object). `follow` is handled by the server itself.
    func respond(to request: [String: Any]) -> [String: Any]
}

/// The control socket: JSON lines over a Unix stream socket (docs/control-socket.md).
///
/// One thread polls the listening socket, every client and a wake-up eventfd. A request is one
/// line (at most 1 MiB); its answer is one line. Followers get a line per new violation (or
/// event) that passes their filter. A client that does not read is cut off once 8 MiB wait for
/// it; nothing it does holds up the others or the pipeline.
public final class ControlServer: @unchecked Sendable {
    // Safety: `clients` and `listenFD` belong to the server thread; others reach it through
    // `pending` (behind a mutex) and the eventfd.
    public static let maximumLine = 1 << 20
    public static let maximumBacklog = 8 << 20

    public let path: String
    private let service: ControlService
    private let allowedGroup: gid_t?
    private let listenFD: Int32
    private let wakeFD: Int32
    private let wakeWriteFD: Int32
    private let running = Atomic<Bool>(false)
    private let finished = Atomic<Bool>(true)
    private let pending = Mutex<[Broadcast]>([])
    private var clients: [Int32: Client] = [:]

    struct Broadcast {
        var kind: String  // "violation" or "event"
        var line: [UInt8]
        var accepts: @Sendable ([String: String]) -> Bool
    }

    /// A class, so that appending to a follower's backlog never copies the backlog.
    final class Client {
        let peer: PeerCredentials
        var input: [UInt8] = []
        /// What waits to be sent: `output[sent...]`.
        var output: [UInt8] = []
        var sent = 0
        var follow: Set<String> = []
        var filter: [String: String] = [:]
        var closeAfterWrite = false
        var inputClosed = false
        /// Answered and shut for writing: what it still sends is read and dropped until it closes,
        /// so that closing never resets the connection before it has read our last line.
        var draining = false

        init(peer: PeerCredentials) { self.peer = peer }

        var pending: Int { output.count - sent }

        /// Drops what was sent, once that is most of the buffer (no shifting on every send).
        func compact() {
            if sent == output.count {
                output.removeAll(keepingCapacity: true)
                sent = 0
            } else if sent > 65536 && sent > output.count / 2 {
                output.removeSubrange(0..<sent)
                sent = 0
            }
        }
    }

    /// Creates the socket at `path` (mode 0660, group `group` when it exists).
    public init(path: String, group: String = "probity", service: ControlService) throws(DaemonError) {
        self.path = path
        self.service = service
        allowedGroup = getgrnam(group).map { $0.pointee.gr_gid }
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw DaemonError(operation: "create the control socket", errno: errno) }
        guard var address = UnixSocketAddress(path) else {
            close(fd)
            throw DaemonError(operation: "bind the control socket \(path) (path too long)", errno: ENAMETOOLONG)
        }
        let bound = address.withSockaddr { bind(fd, $0, $1) }
        guard bound == 0, listen(fd, 64) == 0 else {
            let err = errno
            close(fd)
            throw DaemonError(operation: "bind the control socket \(path)", errno: err)
        }
        chmod(path, 0o660)
        if let gid = allowedGroup { _ = chown(path, 0, gid) }
        listenFD = fd
        var pair: [Int32] = [-1, -1]
        guard pipe(&pair) == 0 else {
            let err = errno
            close(fd)
            throw DaemonError(operation: "create the control server's wake-up pipe", errno: err)
        }
        for end in pair {
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
        }
        wakeFD = pair[0]
        wakeWriteFD = pair[1]
    }

    deinit {
        stop()
        close(listenFD)
        close(wakeFD)
        close(wakeWriteFD)
    }

    public func start() {
        guard !running.exchange(true, ordering: .acquiringAndReleasing) else { return }
        finished.store(false, ordering: .releasing)
        let thread = Thread { [self] in self.run() }
        thread.name = "probity-control"
        thread.start()
    }

    /// Stops serving: clients are disconnected and the socket file removed.
    public func stop() {
        guard running.exchange(false, ordering: .acquiringAndReleasing) else { return }
        wake()
        while !finished.load(ordering: .acquiring) { usleep(1000) }
        unlink(path)
    }

    /// Sends `line` (one JSON object, without newline) to every follower of `kind` whose filter
    /// `accepts` it. Callable from any thread; returns at once.
    public func publish(kind: String, line: [UInt8], accepts: @escaping @Sendable ([String: String]) -> Bool) {
        pending.withLock { $0.append(Broadcast(kind: kind, line: line, accepts: accepts)) }
        wake()
    }

    private let eventFollowerCount = Atomic<Int>(0)

    /// Clients following events (publishing events costs nothing when there are none).
    public var eventFollowers: Int { eventFollowerCount.load(ordering: .relaxed) }

    private func countFollowers() {
        eventFollowerCount.store(clients.values.filter { $0.follow.contains("event") }.count, ordering: .relaxed)
    }

    private func wake() {
        var one: UInt8 = 1
        _ = write(wakeWriteFD, &one, 1)
    }

    private func run() {
        defer {
            for fd in clients.keys { close(fd) }
            clients.removeAll()
            finished.store(true, ordering: .releasing)
        }
        while running.load(ordering: .acquiring) {
            var fds = [pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
            let order = Array(clients.keys)
            for fd in order {
                let wantsWrite = (clients[fd]?.pending ?? 0) > 0
                let wantsRead = !(clients[fd]?.inputClosed ?? true)
                fds.append(pollfd(fd: fd, events: (wantsRead ? Int16(POLLIN) : 0) | (wantsWrite ? Int16(POLLOUT) : 0), revents: 0))
            }
            let n = poll(&fds, nfds_t(fds.count), 500)
            if n < 0 && errno != EINTR { break }
            if fds[1].revents != 0 {
                var drain = [UInt8](repeating: 0, count: 256)
                while drain.withUnsafeMutableBytes({ read(wakeFD, $0.baseAddress, $0.count) }) > 0 {}
                deliverPending()
            }
            if fds[0].revents & Int16(POLLIN) != 0 { accept() }
            for (i, fd) in order.enumerated() {
                let revents = fds[i + 2].revents
                if revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 { readFrom(fd) }
                if clients[fd] != nil && revents & Int16(POLLOUT) != 0 { flush(fd) }
            }
        }
    }

    private func accept() {
        while true {
            let fd = Glibc.accept(listenFD, nil, nil)
            if fd < 0 { return }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            var pid: UInt32 = 0, uid: UInt32 = 0, gid: UInt32 = 0
            guard probity_peer_credentials(fd, &pid, &uid, &gid) == 0 else {
                close(fd)
                continue
            }
            let client = Client(peer: PeerCredentials(pid: pid, uid: uid, gid: gid))
            if !isAllowed(client.peer) {
                client.output = Self.line(["ok": false, "error": "permission denied: uid \(uid) is neither root nor in group probity"])
                client.closeAfterWrite = true
            }
            clients[fd] = client
            flush(fd)
        }
    }

    /// Root, or a member (primary or supplementary) of the control group.
    func isAllowed(_ peer: PeerCredentials) -> Bool {
        if peer.uid == 0 { return true }
        guard let group = allowedGroup else { return false }
        if peer.gid == group { return true }
        guard let user = getpwuid(peer.uid) else { return false }
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: 64)
        guard getgrouplist(user.pointee.pw_name, user.pointee.pw_gid, &groups, &count) >= 0 else { return false }
        return groups.prefix(Int(count)).contains(group)
    }

    private func readFrom(_ fd: Int32) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n == 0 {
                // The client finished sending: answer what it asked, then close.
                if let client = clients[fd] {
                    if !client.input.isEmpty {
                        let line = client.input
                        client.input.removeAll()
                        handle(line, client: client)
                    }
                    if client.follow.isEmpty { client.closeAfterWrite = true }
                    client.inputClosed = true
                    if client.draining {
                        drop(fd)
                        return
                    }
                }
                break
            }
            if n < 0 && errno != EAGAIN && errno != EINTR {
                drop(fd)
                return
            }
            if n < 0 { break }
            guard let client = clients[fd] else { return }
            if client.closeAfterWrite { continue }  // refused or cut off: read and drop what it sends
            client.input.append(contentsOf: buffer[0..<n])
            while let newline = client.input.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(client.input[..<newline])
                client.input.removeSubrange(...newline)
                handle(line, client: client)
            }
            if client.input.count > Self.maximumLine {
                client.output += Self.line(["ok": false, "error": "request too long (limit \(Self.maximumLine) bytes per line)"])
                client.input.removeAll()
                client.closeAfterWrite = true
            }
        }
        countFollowers()
        flush(fd)
    }

    private func handle(_ line: [UInt8], client: Client) {
        if line.allSatisfy({ $0 == 32 || $0 == 13 || $0 == 9 }) { return }
        guard let object = try? JSONSerialization.jsonObject(with: Data(line)), let request = object as? [String: Any] else {
            client.output += Self.line(["ok": false, "error": "not a JSON object: send one object per line, like {\"request\":\"status\"}"])
            return
        }
        guard let name = request["request"] as? String else {
            client.output += Self.line(["ok": false, "error": "missing \"request\": the name of the request, like {\"request\":\"status\"}"])
            return
        }
        if name == "follow" {
            var what = Set((request["what"] as? [String]) ?? ["violations"])
            if let single = request["what"] as? String { what = [single] }
            what = what.intersection(["violations", "events"])
            client.follow = Set(what.map { $0 == "violations" ? "violation" : "event" })
            client.filter = [:]
            for key in ["package", "rule", "severity", "kind"] {
                if let value = request[key] as? String { client.filter[key] = value }
            }
            client.output += Self.line(["ok": true, "following": what.sorted()])
            return
        }
        client.output += Self.line(service.respond(to: request))
    }

    private func deliverPending() {
        let batch = pending.withLock { items -> [Broadcast] in
            defer { items.removeAll(keepingCapacity: true) }
            return items
        }
        guard !batch.isEmpty else { return }
        for client in clients.values where !client.follow.isEmpty && !client.closeAfterWrite {
            for item in batch where client.follow.contains(item.kind) && item.accepts(client.filter) {
                client.output += item.line
                client.output.append(UInt8(ascii: "\n"))
            }
            if client.pending > Self.maximumBacklog {
                // Keep the line already partly sent (up to its newline) so the stream stays framed.
                let keep = client.output[client.sent...].firstIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? client.sent
                client.output.removeSubrange(keep...)
                client.output += Self.line(["ok": false, "error": "cut off: more than \(Self.maximumBacklog) bytes were waiting for this client"])
                client.closeAfterWrite = true
            }
        }
        for fd in Array(clients.keys) { flush(fd) }
    }

    private func flush(_ fd: Int32) {
        guard let client = clients[fd] else { return }
        while client.pending > 0 {
            let n = client.output.withUnsafeBytes { send(fd, $0.baseAddress! + client.sent, client.pending, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EAGAIN || errno == EINTR { break }
                drop(fd)
                return
            }
            client.sent += n
        }
        client.compact()
        if client.pending == 0 && client.closeAfterWrite {
            if client.inputClosed {
                drop(fd)
                return
            }
            if !client.draining {
                shutdown(fd, Int32(SHUT_WR))
                client.draining = true
            }
        }
    }

    private func drop(_ fd: Int32) {
        clients[fd] = nil
        close(fd)
        countFollowers()
    }

    /// One JSON object as a line.
    static func line(_ object: [String: Any]) -> [UInt8] {
        var data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data("{\"ok\":false,\"error\":\"response could not be encoded\"}".utf8)
        data.append(UInt8(ascii: "\n"))
        return Array(data)
    }
}

/// An error of the daemon's own system calls, with errno and what was being done.
public struct DaemonError: Error, CustomStringConvertible, Sendable {
    public var operation: String
    public var errno: Int32

    public init(operation: String, errno: Int32) {
        self.operation = operation
        self.errno = errno
    }

    public var description: String { "cannot \(operation): \(String(cString: strerror(errno)))" }
}
