#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// Who is on the other end of a control connection (SO_PEERCRED).
public struct PeerCredentials: Sendable, Hashable {
    public var pid: UInt32
    public var uid: UInt32
    public var gid: UInt32
}

/// Answers control requests (all but `follow`, which the server handles itself). Called on the
/// server's worker threads, never on its event loop: queries one at a time, and requests that
/// change state (``ControlRequest/changesState``) one at a time on another thread.
public protocol ControlService: AnyObject, Sendable {
    func respond(to request: ControlRequest) -> any ControlAnswer
}

/// The control socket: JSON lines over a Unix stream socket (docs/control-socket.md), on
/// swift-nio.
///
/// One event loop serves every connection; answers are computed on worker threads, so a slow
/// request (a reload, a large SBOM) holds up no other client. Limits: a line of at most
/// ``Limits/maximumLine`` bytes, ``Limits/maximumConnections`` clients at once (others get one
/// error line), ``Limits/maximumBacklog`` bytes of output waiting per client, and the idle
/// timeout for clients that neither ask nor follow. When descriptors run out, accepting backs off
/// instead of spinning.
public final class ControlServer: Sendable {
    /// The limits of the control socket.
    public struct Limits: Sendable {
        /// The longest request line, in bytes.
        public var maximumLine = 1 << 20
        /// A client with more output than this waiting is cut off.
        public var maximumBacklog = 8 << 20
        /// A client with more output than this waiting is not read from until it catches up.
        public var readPauseBytes = 1 << 20
        /// Clients at once; the next one gets an error line and is closed.
        public var maximumConnections = 256
        /// A client that neither asks, follows, nor takes its output for this long is closed.
        public var idleTimeout: TimeAmount = .seconds(60)
        /// How long a connection that got its last line may go on sending before it is closed.
        public var drainTimeout: TimeAmount = .seconds(5)
        /// How long to wait before accepting again when accept fails for want of descriptors.
        public var acceptBackoff: TimeAmount = .milliseconds(200)

        public init() {}
    }

    /// What the server has done, for status and tests.
    public struct Statistics: Sendable, Equatable {
        public var connections: Int
        public var followers: Int
        /// Bytes of output waiting, all clients together.
        public var bufferedBytes: Int
        public var refusedAtLimit: Int
        public var cutOff: Int
        public var idleClosed: Int
        public var rejectedRequests: Int
        public var tooLong: Int
        /// Times accepting paused because descriptors (or memory) ran out.
        public var acceptPauses: Int
    }

    public static let maximumLine = Limits().maximumLine
    public static let maximumBacklog = Limits().maximumBacklog

    public let path: String
    private let groupName: String
    private let core: ControlServerCore
    private let group: MultiThreadedEventLoopGroup
    private let channel = Mutex<Channel?>(nil)
    private let state = Mutex<RunState>(.idle)
    private let pending = Mutex<(items: [Broadcast], scheduled: Bool)>(([], false))
    /// Lines waiting for the event loop beyond this are dropped (and counted).
    static let maximumPendingBroadcasts = 65_536

    private enum RunState { case idle, running, stopped }

    struct Broadcast: Sendable {
        var kind: String  // "violation" or "event"
        var line: [UInt8]
        var accepts: @Sendable ([String: String]) -> Bool
    }

    /// Prepares the server for `path` (mode 0660, group `group` when it exists); ``start()`` binds.
    public init(path: String, group: String = "probity", service: ControlService, limits: Limits = Limits()) {
        self.path = path
        groupName = group
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        core = ControlServerCore(
            service: service, limits: limits, allowedGroup: getgrnam(group).map { $0.pointee.gr_gid }, loop: self.group.next())
    }

    deinit {
        stop()
        try? group.syncShutdownGracefully()
    }

    /// Binds the socket and starts serving.
    public func start() throws(DaemonError) {
        guard state.withLock({ s -> Bool in
            guard case .idle = s else { return false }
            s = .running
            return true
        }) else { return }
        guard path.utf8.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else {
            throw DaemonError(operation: "bind the control socket \(path) (path too long)", errno: ENAMETOOLONG)
        }
        core.startPools()
        let core = self.core
        let limits = core.limits
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelInitializer { channel in
                // Accepting fails with EMFILE/ENFILE while descriptors are short: wait, do not spin.
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AcceptPause(backoff: limits.acceptBackoff, counters: core.counters))
                }
            }
            .childChannelOption(.autoRead, value: false)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 64 << 10, high: 256 << 10))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let role: ControlConnection.Role
                    if core.registry.reserve() {
                        role = .serve
                    } else {
                        core.counters.refusedAtLimit.add(1, ordering: .relaxed)
                        role = .refuse(ControlFailure(
                            "too many connections (limit \(limits.maximumConnections)): try again later"))
                    }
                    let connection = ControlConnection(core: core, role: role)
                    if case .serve = role {
                        channel.closeFuture.whenComplete { _ in core.registry.release() }
                    }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(ControlLineDecoder(maximumLine: limits.maximumLine)))
                    try channel.pipeline.syncOperations.addHandler(connection)
                }
            }
        let bound: Channel
        do {
            bound = try bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).wait()
        } catch {
            state.withLock { $0 = .stopped }
            core.stopPools()
            throw DaemonError(operation: "bind the control socket \(path)", errno: (error as? IOError)?.errnoCode ?? EADDRNOTAVAIL)
        }
        chmod(path, 0o660)
        // The owner stays; the group is the daemon's own under the unit (Group=), so this needs no
        // CAP_CHOWN there. A group it can neither join nor chown to is an error, not a socket
        // that the group's members silently cannot reach.
        if let gid = core.allowedGroup, chown(path, uid_t.max, gid) != 0 {
            let err = errno
            try? bound.close().wait()
            unlink(path)
            state.withLock { $0 = .stopped }
            core.stopPools()
            throw DaemonError(operation: "give the control socket \(path) to group \(groupName)", errno: err)
        }
        channel.withLock { $0 = bound }
        core.startSweeping()
    }

    /// Stops serving: no new connections; each client gets what was waiting for it (for up to
    /// two seconds), then is disconnected; the socket file is removed.
    public func stop() {
        let wasRunning = state.withLock { s -> Bool in
            defer { s = .stopped }
            if case .running = s { return true }
            return false
        }
        guard wasRunning else { return }
        if let listener = channel.withLock({ $0 }) { try? listener.close().wait() }
        let core = self.core
        let closing = try? core.loop.submit { core.registry.shutdownAll() }.wait()
        if let closing {
            let deadline = core.loop.scheduleTask(in: .seconds(2)) { core.registry.closeAll() }
            try? EventLoopFuture.andAllComplete(closing, on: core.loop).wait()
            deadline.cancel()
        }
        core.stopSweeping()
        core.stopPools()
        unlink(path)
    }

    /// Sends `line` (one JSON object, without newline) to every follower of `kind` whose filter
    /// `accepts` it. Callable from any thread; returns at once.
    public func publish(kind: String, line: [UInt8], accepts: @escaping @Sendable ([String: String]) -> Bool) {
        let schedule = pending.withLock { p -> Bool in
            guard p.items.count < Self.maximumPendingBroadcasts else {
                core.counters.broadcastsDropped.add(1, ordering: .relaxed)
                return false
            }
            p.items.append(Broadcast(kind: kind, line: line, accepts: accepts))
            if p.scheduled { return false }
            p.scheduled = true
            return true
        }
        guard schedule else { return }
        core.loop.execute { [self] in
            let batch = pending.withLock { p -> [Broadcast] in
                defer {
                    p.items.removeAll(keepingCapacity: true)
                    p.scheduled = false
                }
                return p.items
            }
            core.registry.deliver(batch)
        }
    }

    /// Clients following events (publishing events costs nothing when there are none).
    public var eventFollowers: Int { core.counters.eventFollowers.load(ordering: .relaxed) }

    public var statistics: Statistics {
        let c = core.counters
        return Statistics(
            connections: c.connections.load(ordering: .relaxed), followers: c.followers.load(ordering: .relaxed),
            bufferedBytes: c.bufferedBytes.load(ordering: .relaxed), refusedAtLimit: c.refusedAtLimit.load(ordering: .relaxed),
            cutOff: c.cutOff.load(ordering: .relaxed), idleClosed: c.idleClosed.load(ordering: .relaxed),
            rejectedRequests: c.rejected.load(ordering: .relaxed), tooLong: c.tooLong.load(ordering: .relaxed),
            acceptPauses: c.acceptPauses.load(ordering: .relaxed))
    }
}

/// What the server's parts share: the service, the limits, the worker threads, the connections.
final class ControlServerCore: Sendable {
    let service: ControlService
    let limits: ControlServer.Limits
    let allowedGroup: gid_t?
    let loop: EventLoop
    let registry: ConnectionRegistry
    let counters = Counters()
    /// Queries (status, violations, ...), one at a time.
    let queries = NIOThreadPool(numberOfThreads: 1)
    /// Requests that change state (reload, load-sbom), one at a time.
    let changes = NIOThreadPool(numberOfThreads: 1)
    /// Group membership look-ups for new connections.
    let credentialChecks = NIOThreadPool(numberOfThreads: 1)
    private let sweeper = Mutex<RepeatedTask?>(nil)

    final class Counters: Sendable {
        let connections = Atomic<Int>(0)
        let followers = Atomic<Int>(0)
        let eventFollowers = Atomic<Int>(0)
        let bufferedBytes = Atomic<Int>(0)
        let refusedAtLimit = Atomic<Int>(0)
        let cutOff = Atomic<Int>(0)
        let idleClosed = Atomic<Int>(0)
        let rejected = Atomic<Int>(0)
        let tooLong = Atomic<Int>(0)
        let broadcastsDropped = Atomic<Int>(0)
        let acceptPauses = Atomic<Int>(0)
    }

    init(service: ControlService, limits: ControlServer.Limits, allowedGroup: gid_t?, loop: EventLoop) {
        self.service = service
        self.limits = limits
        self.allowedGroup = allowedGroup
        self.loop = loop
        registry = ConnectionRegistry(loop: loop, limit: limits.maximumConnections, counters: counters)
    }

    func startPools() {
        for pool in [queries, changes, credentialChecks] { pool.start() }
    }

    func stopPools() {
        for pool in [queries, changes, credentialChecks] { try? pool.syncShutdownGracefully() }
    }

    /// Checks every connection for idleness a few times per idle timeout (at most once a second).
    func startSweeping() {
        let period = TimeAmount.nanoseconds(max(50_000_000, min(1_000_000_000, limits.idleTimeout.nanoseconds / 4)))
        let registry = self.registry
        let task = loop.scheduleRepeatedTask(initialDelay: period, delay: period) { _ in registry.sweep() }
        sweeper.withLock { $0 = task }
    }

    func stopSweeping() {
        sweeper.withLock { $0?.cancel(); $0 = nil }
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
}

/// Stops accepting for a while when accept fails for want of descriptors or memory.
///
/// NIO's `AcceptBackoffHandler` only delays the next read request; the failed read stays
/// pending, the listening socket stays registered as readable, and the loop wakes up at once,
/// again and again. Turning auto-read off unregisters it; it is turned on again after `backoff`.
final class AcceptPause: ChannelInboundHandler {
    typealias InboundIn = Channel
    typealias InboundOut = Channel

    private let backoff: TimeAmount
    private let counters: ControlServerCore.Counters
    private var paused = false

    init(backoff: TimeAmount, counters: ControlServerCore.Counters) {
        self.backoff = backoff
        self.counters = counters
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard let error = error as? IOError, [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(error.errnoCode) else {
            return context.fireErrorCaught(error)
        }
        guard !paused, let options = context.channel.syncOptions else { return }
        paused = true
        counters.acceptPauses.add(1, ordering: .relaxed)
        try? options.setOption(.autoRead, value: false)
        context.eventLoop.assumeIsolated().scheduleTask(in: backoff) {
            self.paused = false
            try? context.channel.syncOptions?.setOption(.autoRead, value: true)
        }
    }
}

/// The open connections, on the event loop only.
final class ConnectionRegistry: @unchecked Sendable {
    // Safety: every method but `reserve`/`release` runs on `loop` (checked); those two use an atomic.
    private let loop: EventLoop
    private let limit: Int
    private let counters: ControlServerCore.Counters
    private var connections: [ObjectIdentifier: ControlConnection] = [:]
    private let admitted = Atomic<Int>(0)

    init(loop: EventLoop, limit: Int, counters: ControlServerCore.Counters) {
        self.loop = loop
        self.limit = limit
        self.counters = counters
    }

    /// Takes a place for a served connection; false at the limit.
    func reserve() -> Bool {
        while true {
            let now = admitted.load(ordering: .relaxed)
            guard now < limit else { return false }
            if admitted.compareExchange(expected: now, desired: now + 1, ordering: .relaxed).exchanged { return true }
        }
    }

    func release() { admitted.subtract(1, ordering: .relaxed) }

    func add(_ connection: ControlConnection) {
        loop.preconditionInEventLoop()
        connections[ObjectIdentifier(connection)] = connection
        counters.connections.store(connections.count, ordering: .relaxed)
    }

    func remove(_ connection: ControlConnection) {
        loop.preconditionInEventLoop()
        guard connections.removeValue(forKey: ObjectIdentifier(connection)) != nil else { return }
        counters.connections.store(connections.count, ordering: .relaxed)
        counters.bufferedBytes.subtract(connection.pendingBytes, ordering: .relaxed)
        if connection.subscription != nil { followersChanged() }
    }

    func buffered(_ delta: Int) { counters.bufferedBytes.add(delta, ordering: .relaxed) }

    func followersChanged() {
        loop.preconditionInEventLoop()
        let followers = connections.values.filter { $0.subscription != nil }
        counters.followers.store(followers.count, ordering: .relaxed)
        counters.eventFollowers.store(followers.filter { $0.subscription?.kinds.contains("event") == true }.count, ordering: .relaxed)
    }

    func deliver(_ batch: [ControlServer.Broadcast]) {
        loop.preconditionInEventLoop()
        guard !batch.isEmpty else { return }
        for connection in connections.values {
            guard let subscription = connection.subscription else { continue }
            var out = ByteBuffer()
            for item in batch where subscription.kinds.contains(item.kind) && item.accepts(subscription.filter) {
                out.writeBytes(item.line)
                out.writeInteger(UInt8(ascii: "\n"))
            }
            if out.readableBytes > 0 { connection.deliver(out) }
        }
    }

    func sweep() {
        loop.preconditionInEventLoop()
        let now = NIODeadline.now()
        for connection in Array(connections.values) { connection.sweep(now: now) }
    }

    /// Asks every connection to finish; returns when each is closed.
    func shutdownAll() -> [EventLoopFuture<Void>] {
        loop.preconditionInEventLoop()
        var futures: [EventLoopFuture<Void>] = []
        for connection in Array(connections.values) {
            if let future = connection.closeFuture { futures.append(future) }
            connection.shutdown()
        }
        return futures
    }

    func closeAll() {
        loop.preconditionInEventLoop()
        for connection in Array(connections.values) { connection.close() }
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
