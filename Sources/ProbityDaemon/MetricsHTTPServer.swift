#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// `GET /metrics` over HTTP/1.1 on one address (off unless `metrics-address` is set), on
/// swift-nio: every scrape is served on one event loop while the text is produced on a worker
/// thread, so a client that connects and sends nothing holds up no other (it is closed after
/// ``idleTimeout``).
final class MetricsHTTPServer: Sendable {
    let address: String
    /// A connection that sends no complete request for this long is closed.
    let idleTimeout: TimeAmount
    private let body: @Sendable () -> String
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let worker = NIOThreadPool(numberOfThreads: 1)
    private let channel = Mutex<Channel?>(nil)

    /// Listens on `address` (`HOST:PORT`, IPv4).
    init(address: String, idleTimeout: TimeAmount = .seconds(10), body: @escaping @Sendable () -> String) throws(DaemonError) {
        self.address = address
        self.idleTimeout = idleTimeout
        self.body = body
        let parts = address.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]), (0...65535).contains(port) else {
            throw DaemonError(operation: "listen for metrics on \(address) (expected HOST:PORT)", errno: EINVAL)
        }
        var sin = in_addr()
        guard inet_pton(AF_INET, String(parts[0]), &sin) == 1 else {
            throw DaemonError(operation: "listen for metrics on \(address) (not an IPv4 address)", errno: EINVAL)
        }
        worker.start()
        let body = self.body
        let worker = self.worker
        let idle = idleTimeout
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AcceptBackoffHandler())
                }
            }
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(IdleStateHandler(readTimeout: idle))
                    try sync.configureHTTPServerPipeline(withErrorHandling: true)
                    try sync.addHandler(MetricsHTTPHandler(body: body, worker: worker))
                }
            }
        do {
            let bound = try bootstrap.bind(host: String(parts[0]), port: port).wait()
            channel.withLock { $0 = bound }
        } catch {
            try? worker.syncShutdownGracefully()
            try? group.syncShutdownGracefully()
            throw DaemonError(operation: "listen for metrics on \(address)", errno: (error as? IOError)?.errnoCode ?? EADDRNOTAVAIL)
        }
    }

    deinit { stop() }

    /// Kept for the daemon's start sequence: the server already listens.
    func start() {}

    /// Stops listening and closes every connection.
    func stop() {
        guard let listener = channel.withLock({ c -> Channel? in
            defer { c = nil }
            return c
        }) else { return }
        try? listener.close().wait()
        try? worker.syncShutdownGracefully()
        try? group.syncShutdownGracefully()
    }
}

/// One HTTP connection: `GET /metrics` answers the Prometheus text, anything else 404; idle
/// connections are closed.
final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let body: @Sendable () -> String
    private let worker: NIOThreadPool
    private var head: HTTPRequestHead?

    init(body: @escaping @Sendable () -> String, worker: NIOThreadPool) {
        self.body = body
        self.worker = worker
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
            guard head.method == .GET || head.method == .HEAD, path == "/metrics" else {
                return respond(context: context, head: head, status: .notFound, text: "")
            }
            let body = self.body
            worker.runIfActive(eventLoop: context.eventLoop) { body() }.assumeIsolated().whenComplete { result in
                switch result {
                case .success(let text): self.respond(context: context, head: head, status: .ok, text: text)
                case .failure: self.respond(context: context, head: head, status: .serviceUnavailable, text: "")
                }
            }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead, status: HTTPResponseStatus, text: String) {
        var headers = HTTPHeaders()
        if status == .ok { headers.add(name: "Content-Type", value: "text/plain; version=0.0.4") }
        headers.add(name: "Content-Length", value: "\(text.utf8.count)")
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD, !text.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: text)))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }
}
