#if canImport(Glibc)
import Glibc
#endif
import NIOCore

/// What the line decoder hands on: a line without its newline, or word that a line went past
/// the limit (after which everything the client sends is dropped).
enum ControlLine: Sendable {
    case line(ByteBuffer)
    case tooLong
}

/// JSON-lines framing: splits the input at newlines; a line longer than `maximumLine` bytes is
/// reported once as ``ControlLine/tooLong`` and the rest of the input is discarded. What is
/// left when the client stops sending is its last line.
struct ControlLineDecoder: ByteToMessageDecoder {
    typealias InboundOut = ControlLine

    let maximumLine: Int
    /// Bytes at the front of the buffer already searched for a newline.
    private var searched = 0
    private var discarding = false

    init(maximumLine: Int) { self.maximumLine = maximumLine }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if discarding {
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return .needMoreData
        }
        let view = buffer.readableBytesView
        if let newline = view.dropFirst(searched).firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - view.startIndex
            searched = 0
            if length > maximumLine { return tooLong(context: context, buffer: &buffer) }
            let line = buffer.readSlice(length: length) ?? ByteBuffer()
            buffer.moveReaderIndex(forwardBy: 1)
            context.fireChannelRead(Self.wrapInboundOut(.line(line)))
            return .continue
        }
        searched = view.count
        if view.count > maximumLine { return tooLong(context: context, buffer: &buffer) }
        return .needMoreData
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        if !discarding, buffer.readableBytes > 0, let rest = buffer.readSlice(length: buffer.readableBytes) {
            context.fireChannelRead(Self.wrapInboundOut(.line(rest)))
        }
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .needMoreData
    }

    private mutating func tooLong(context: ChannelHandlerContext, buffer: inout ByteBuffer) -> DecodingState {
        discarding = true
        buffer.moveReaderIndex(to: buffer.writerIndex)
        context.fireChannelRead(Self.wrapInboundOut(.tooLong))
        return .needMoreData
    }
}

/// One client of the control socket, on the server's event loop.
///
/// Reads are asked for one at a time (auto-read is off): only when no request is being answered,
/// no decoded line waits, and less than ``ControlServer/Limits/readPauseBytes`` of output waits
/// for the client. So a client that does not read its answers stops being read (its requests wait
/// in its own socket buffer). Output waits in `outbox` until the channel is writable; a follower
/// with more than ``ControlServer/Limits/maximumBacklog`` waiting is cut off, and any client whose
/// output makes no progress for the idle timeout is closed.
final class ControlConnection: ChannelInboundHandler {
    typealias InboundIn = ControlLine
    typealias OutboundOut = ByteBuffer

    enum Role {
        /// Check the peer's credentials, then answer requests.
        case serve
        /// Send this one answer and close (the connection limit).
        case refuse(ControlFailure)
    }

    /// What a follower receives: `violation` and/or `event` lines that pass `filter`.
    struct Subscription {
        var kinds: Set<String>
        var filter: [String: String]
    }

    private let core: ControlServerCore
    private let role: Role
    private var context: ChannelHandlerContext?
    private(set) var subscription: Subscription?
    private var admitted = false
    private var queue = CircularBuffer<ControlLine>()
    private var busy = false
    private var inputClosed = false
    private var halfClosed = false
    /// Set when the connection began to end (an answer that closes it, a cut-off, shutdown).
    private var finishing: NIODeadline?
    private var outbox = CircularBuffer<ByteBuffer>()
    private var outboxBytes = 0
    private var writingBytes = 0
    private let opened = NIODeadline.now()
    private var lastInbound = NIODeadline.now()
    private var lastProgress = NIODeadline.now()

    init(core: ControlServerCore, role: Role) {
        self.core = core
        self.role = role
    }

    /// Output accepted for this client and not yet written to its socket.
    var pendingBytes: Int { outboxBytes + writingBytes }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        core.registry.remove(self)
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        core.registry.add(self)
        switch role {
        case .refuse(let answer):
            finish(answer)
        case .serve:
            checkPeer(context)
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        core.registry.remove(self)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastInbound = .now()
        guard finishing == nil else { return }  // answered for the last time: read and dropped
        queue.append(unwrapInboundIn(data))
        processQueue()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        readIfWanted()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        flushOutbox()
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            inputClosed = true
            if finishing != nil {
                if pendingBytes == 0 { context.close(promise: nil) }
            } else {
                processQueue()
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    // MARK: Admission

    private func checkPeer(_ context: ChannelHandlerContext) {
        guard let provider = context.channel as? SocketOptionProvider else {
            return finish(ControlFailure("cannot read the peer's credentials"))
        }
        let credentials: EventLoopFuture<PeerCredentialsOption> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        let core = self.core
        let loop = context.eventLoop
        credentials.flatMap { raw in
            let peer = PeerCredentials(pid: UInt32(bitPattern: raw.pid), uid: raw.uid, gid: raw.gid)
            // Group membership may ask NSS (files, LDAP, ...): not on the event loop.
            return core.credentialChecks.runIfActive(eventLoop: loop) { (peer, core.isAllowed(peer)) }
        }.assumeIsolated().whenComplete { result in
            switch result {
            case .success((_, true)):
                self.admitted = true
                self.readIfWanted()
            case .success((let peer, false)):
                self.finish(ControlFailure("permission denied: uid \(peer.uid) is neither root nor in group probity"))
            case .failure:
                self.finish(ControlFailure("cannot read the peer's credentials"))
            }
        }
    }

    // MARK: Requests

    private func processQueue() {
        guard admitted else { return }
        // Answers wait while the client has not taken the previous ones (its requests wait too).
        while !busy, finishing == nil, pendingBytes <= core.limits.readPauseBytes, let line = queue.popFirst() {
            switch line {
            case .tooLong:
                core.counters.tooLong.add(1, ordering: .relaxed)
                finish(ControlFailure("request too long (limit \(core.limits.maximumLine) bytes per line)"))
            case .line(let buffer):
                let bytes = buffer.readableBytesView
                if bytes.allSatisfy({ $0 == 32 || $0 == 13 || $0 == 9 }) { continue }
                do {
                    handle(try ControlRequest.decode(bytes))
                } catch {
                    core.counters.rejected.add(1, ordering: .relaxed)
                    enqueue(ControlFailure(error.message).line())
                }
            }
        }
        if finishing == nil, !busy, queue.isEmpty, inputClosed, subscription == nil {
            finish(nil)  // the client finished sending and everything is answered
        }
        readIfWanted()
    }

    private func handle(_ request: ControlRequest) {
        if case .follow(let follow) = request {
            subscription = Subscription(kinds: Set(follow.what.map { $0 == .violations ? "violation" : "event" }), filter: follow.filter)
            core.registry.followersChanged()
            enqueue(FollowingAnswer(following: follow.what.sorted().map(\.rawValue)).line())
            return
        }
        guard let context else { return }
        busy = true
        let service = core.service
        let pool = request.changesState ? core.changes : core.queries
        pool.runIfActive(eventLoop: context.eventLoop) { service.respond(to: request).line() }
            .assumeIsolated().whenComplete { result in
                self.busy = false
                switch result {
                case .success(let line): self.enqueue(line)
                case .failure: self.enqueue(ControlFailure("probityd is stopping").line())
                }
                self.processQueue()
            }
    }

    // MARK: Output

    /// A batch of follower lines (already framed). What goes past the cap is not sent: the
    /// follower gets the whole lines that fit, then word that it was cut off, and is closed.
    func deliver(_ lines: ByteBuffer) {
        guard admitted, finishing == nil, subscription != nil else { return }
        let room = core.limits.maximumBacklog - pendingBytes
        guard lines.readableBytes > room else { return enqueue(lines) }
        core.counters.cutOff.add(1, ordering: .relaxed)
        let view = lines.readableBytesView
        if room > 0, let lastNewline = view.prefix(room).lastIndex(of: UInt8(ascii: "\n")),
           let fits = lines.getSlice(at: lines.readerIndex, length: lastNewline - view.startIndex + 1) {
            enqueue(fits)
        }
        finish(ControlFailure("cut off: more than \(core.limits.maximumBacklog) bytes were waiting for this client"))
    }

    private func enqueue(_ line: [UInt8]) {
        guard let context else { return }
        var buffer = context.channel.allocator.buffer(capacity: line.count)
        buffer.writeBytes(line)
        enqueue(buffer)
    }

    private func enqueue(_ buffer: ByteBuffer) {
        guard context?.channel.isActive == true, !halfClosed else { return }
        outbox.append(buffer)
        outboxBytes += buffer.readableBytes
        core.registry.buffered(buffer.readableBytes)
        flushOutbox()
    }

    /// Hands waiting output to the channel while it is writable.
    private func flushOutbox() {
        guard let context else { return }
        var wrote = false
        while context.channel.isWritable, let buffer = outbox.popFirst() {
            let n = buffer.readableBytes
            outboxBytes -= n
            writingBytes += n
            let promise = context.eventLoop.makePromise(of: Void.self)
            context.write(wrapOutboundOut(buffer), promise: promise)
            promise.futureResult.assumeIsolated().whenComplete { _ in
                self.writingBytes -= n
                self.core.registry.buffered(-n)
                self.lastProgress = .now()
                self.progressed()
            }
            wrote = true
        }
        if wrote { context.flush() }
    }

    private func progressed() {
        if finishing != nil {
            if pendingBytes == 0 { halfClose() }
        } else {
            processQueue()
        }
    }

    private func readIfWanted() {
        guard let context, context.channel.isActive, !inputClosed else { return }
        if finishing != nil {
            context.read()  // drop what the client still sends, until it closes
        } else if admitted, !busy, queue.isEmpty, pendingBytes <= core.limits.readPauseBytes {
            context.read()
        }
    }

    // MARK: Ending

    /// Sends `answer` (if any) as the last line, then shuts the connection for writing once
    /// everything is written; what the client still sends is read and dropped until it closes,
    /// so that closing never resets the connection before it has read the last line.
    func finish(_ answer: ControlFailure?) {
        guard finishing == nil else { return }
        finishing = .now()
        queue.removeAll()
        if subscription != nil {
            subscription = nil
            core.registry.followersChanged()
        }
        if let answer { enqueue(answer.line()) }
        if pendingBytes == 0 { halfClose() }
        readIfWanted()
    }

    private func halfClose() {
        guard let context, !halfClosed else { return }
        halfClosed = true
        if inputClosed {
            context.close(promise: nil)
            return
        }
        let promise = context.eventLoop.makePromise(of: Void.self)
        context.close(mode: .output, promise: promise)
        promise.futureResult.assumeIsolated().whenFailure { _ in context.close(promise: nil) }
    }

    /// Called by the server's sweep: closes connections that are idle, stalled or done.
    func sweep(now: NIODeadline) {
        guard let context, context.channel.isActive else { return }
        let idle = core.limits.idleTimeout
        if pendingBytes > 0 && now - lastProgress > idle {
            // The client has not taken any of its output for the idle timeout.
            core.counters.cutOff.add(1, ordering: .relaxed)
            context.close(promise: nil)
            return
        }
        if let since = finishing {
            if pendingBytes == 0 && now - since > core.limits.drainTimeout { context.close(promise: nil) }
            return
        }
        if !admitted {
            if now - opened > idle { context.close(promise: nil) }
            return
        }
        if subscription == nil, !busy, pendingBytes == 0, now - lastInbound > idle, now - lastProgress > idle {
            core.counters.idleClosed.add(1, ordering: .relaxed)
            finish(ControlFailure("closed: no request for \(idle.nanoseconds / 1_000_000_000) seconds"))
        }
    }

    /// Shutdown: no more requests; what is waiting is still written.
    func shutdown() {
        finish(nil)
    }

    func close() { context?.close(promise: nil) }

    /// Completed when the connection is closed (nil once the handler is gone).
    var closeFuture: EventLoopFuture<Void>? { context?.channel.closeFuture }
}

/// The kernel's `struct ucred`, as `getsockopt(SO_PEERCRED)` fills it.
struct PeerCredentialsOption: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}
