#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import CProbityBPF
import ProbityEvents

/// Watches the DNS queries this host sends and the answers it receives, and remembers, for each
/// address, the names it was given for: the kernel reports a connect to 10.0.0.5, and this says
/// it was `allowed.test`.
///
/// It reads a packet socket (`AF_PACKET`, `SOCK_RAW`, every protocol, every interface of the
/// network namespace it was created in, loopback included) whose classic BPF filter passes only
/// UDP to or from port 53 over IPv4 and IPv6, so that the reader thread wakes for DNS alone.
///
/// **An answer is believed only when it answers a query seen leaving this host.** Each query
/// sent (a frame the kernel marks `PACKET_OUTGOING`, to port 53, to one of `servers` when they are
/// given) is kept as pending under its transaction id, question name and type, server address
/// and client port, for ``queryTimeout`` at most, in a table of ``pendingCapacity`` queries (the
/// oldest is forgotten when it is full). A response received (not outgoing, from port 53) is
/// stored only when all five match one pending query, which it consumes: a second answer to the
/// same query, an answer from another server or to another port, and an answer no query asked
/// for are counted in ``Counters/answersRejected`` and otherwise ignored. On loopback each frame
/// is seen twice (out, then in): the outgoing copy of a query and the incoming copy of an answer
/// are the ones used, so each counts once.
///
/// Not seen: DNS over TCP, TLS or HTTPS; fragmented answers; IPv6 packets with extension
/// headers; links without Ethernet framing (tun, WireGuard).
public final class DNSObserver: @unchecked Sendable {
    // Safety: `thread` is touched only by start() and stop(), which callers do not race;
    // everything the reader thread shares is behind `state` or atomic.

    /// What the observer has done so far.
    public struct Counters: Sendable, Hashable, CustomStringConvertible {
        /// DNS responses believed (they answered a pending query, or came through
        /// `record(_:at:)`) and stored, with or without answers.
        public var answersParsed: UInt64 = 0
        /// Packets that passed the filter but were not a well-formed IP/UDP/DNS message.
        public var packetsMalformed: UInt64 = 0
        /// Address → name facts stored.
        public var recordsStored: UInt64 = 0
        /// DNS responses received that answered no pending query: unsolicited, from another
        /// server or to another port than the query's, a second answer, or too late.
        public var answersRejected: UInt64 = 0
        /// Queries seen leaving the host and kept as pending.
        public var queriesSeen: UInt64 = 0
        /// Queries sent to a server that is not one of the configured resolvers (not kept, so
        /// their answers are rejected).
        public var queriesIgnored: UInt64 = 0
        /// Pending queries forgotten unanswered because the table was full.
        public var queriesEvicted: UInt64 = 0

        public init(
            answersParsed: UInt64 = 0, packetsMalformed: UInt64 = 0, recordsStored: UInt64 = 0, answersRejected: UInt64 = 0,
            queriesSeen: UInt64 = 0, queriesIgnored: UInt64 = 0, queriesEvicted: UInt64 = 0
        ) {
            self.answersParsed = answersParsed
            self.packetsMalformed = packetsMalformed
            self.recordsStored = recordsStored
            self.answersRejected = answersRejected
            self.queriesSeen = queriesSeen
            self.queriesIgnored = queriesIgnored
            self.queriesEvicted = queriesEvicted
        }

        public var description: String {
            "DNS: \(queriesSeen) queries seen, \(answersParsed) answers believed, \(answersRejected) rejected (unsolicited or mismatched), "
                + "\(queriesIgnored) queries to other servers, \(queriesEvicted) pending queries evicted, \(packetsMalformed) malformed, "
                + "\(recordsStored) address facts stored"
        }
    }

    private struct State {
        var table: AddressNames
        var pending: PendingQueries
        var counters = Counters()
    }

    /// How long a query waits for its answer (glibc gives up after 5 s per try, and a retry
    /// with the same id renews it).
    public static let queryTimeout: Duration = .seconds(10)
    /// Pending queries kept at most: 4,096 keys of at most 255-byte names, about 2 MiB at worst
    /// with the order queue (bounded at four times as many slots).
    public static let pendingCapacity = 4096

    private let state: Mutex<State>
    private let socket: Int32  // -1 when unattached
    /// The server addresses queries are kept for (`SocketAddress.address` form); nil: any.
    private let servers: Set<String>?
    private let running = Atomic<Bool>(false)
    /// Signalled once by the thread as it ends (a stop waits for it; nothing spins).
    private let ended = DispatchSemaphore(value: 0)
    private var thread: Thread?
    private let listener = Mutex<(@Sendable (DNSAnswerSet) -> Void)?>(nil)
    /// A pipe that wakes the reader thread for ``waitUntilCaughtUp(timeout:)``: read end, write end.
    private let wakeFD: Int32
    private let wakeWriteFD: Int32
    /// Times the reader thread has read its socket empty.
    private let drains = Atomic<UInt64>(0)

    /// Called on the reader thread with every believed response that has answers, after they are
    /// stored (enforce mode turns allowed names into kernel entries from here).
    public func onAnswers(_ body: @escaping @Sendable (DNSAnswerSet) -> Void) {
        listener.withLock { $0 = body }
    }

    /// Opens the packet socket and attaches its filter; `start()` begins reading.
    ///
    /// Needs root or `CAP_NET_RAW`. `capacity` bounds the number of addresses remembered.
    /// `servers`: the resolvers' addresses as `SocketAddress.address` writes them (from
    /// /etc/resolv.conf); queries to other servers are not kept, so their answers are never
    /// believed. nil keeps queries to any server.
    public convenience init(capacity: Int = 65_536, servers: [String]? = nil) throws(ProbeError) {
        self.init(socket: try Self.openPacketSocket(), capacity: capacity, servers: servers)
    }

    /// An observer without a socket, fed only through `record(_:at:)` and `observe(frame:outgoing:at:)`
    /// (tests, replays).
    public static func unattached(capacity: Int = 65_536, servers: [String]? = nil) -> DNSObserver {
        DNSObserver(socket: -1, capacity: capacity, servers: servers)
    }

    private init(socket: Int32, capacity: Int, servers: [String]?) {
        self.socket = socket
        var ends: [Int32] = [-1, -1]
        if socket >= 0, pipe(&ends) == 0 {
            for fd in ends {
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            }
        } else {
            ends = [-1, -1]
        }
        wakeFD = ends[0]
        wakeWriteFD = ends[1]
        self.servers = servers.map(Set.init)
        state = Mutex(State(table: AddressNames(capacity: capacity),
                            pending: PendingQueries(capacity: Self.pendingCapacity, timeout: Self.queryTimeout)))
    }

    deinit {
        stop()
        if socket >= 0 { close(socket) }
        if wakeFD >= 0 { close(wakeFD) }
        if wakeWriteFD >= 0 { close(wakeWriteFD) }
    }

    /// Starts the reader thread (no-op when unattached or already started).
    public func start() {
        guard socket >= 0, !running.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let thread = Thread { [self] in self.run() }
        thread.name = "probity-dns"
        self.thread = thread
        thread.start()
    }

    /// Stops the reader thread; returns once it has (within about 100 ms).
    public func stop() {
        guard running.exchange(false, ordering: .acquiringAndReleasing) else { return }
        ended.wait()
        thread = nil
    }

    /// Returns once the reader thread has read every packet that had reached its socket before
    /// the call (or after `timeout`): an answer a program read before connecting is then stored.
    /// For a verdict that depends on names (`host` rules): a connect can be judged before the
    /// reader thread got to the answer that named its address.
    public func waitUntilCaughtUp(timeout: Duration = .milliseconds(200)) {
        guard socket >= 0, wakeFD >= 0, running.load(ordering: .relaxed) else { return }
        let before = drains.load(ordering: .acquiring)
        var one: UInt8 = 1
        let deadline = ContinuousClock.now + timeout
        // Two drains: the one under way when asked may have started before the packet arrived.
        while drains.load(ordering: .acquiring) < before + 2 && ContinuousClock.now < deadline {
            _ = write(wakeWriteFD, &one, 1)
            usleep(200)
        }
    }

    /// The names `address` was recently given for, most recent first; `address` is written as
    /// `SocketAddress.address` writes it. An IPv4-mapped IPv6 address also finds its IPv4 names.
    public func names(for address: String, at now: ContinuousClock.Instant = .now) -> [String] {
        state.withLock { state in
            var names = state.table.names(for: address, at: now)
            if names.isEmpty, address.hasPrefix("::ffff:"), address.contains(".") {
                names = state.table.names(for: String(address.dropFirst(7)), at: now)
            }
            return names
        }
    }

    /// The names of `address` for a verdict: when none is known yet, the reader thread is let
    /// catch up once (``waitUntilCaughtUp(timeout:)``) and the table read again, since a connect
    /// can reach the pipeline before the answer that named its address was read.
    public func namesCatchingUp(for address: String) -> [String] {
        let names = names(for: address)
        if !names.isEmpty { return names }
        waitUntilCaughtUp()
        return self.names(for: address)
    }

    /// Stores the facts of one DNS response, as the reader thread does for each it believes.
    public func record(_ answers: DNSAnswerSet, at now: ContinuousClock.Instant = .now) {
        state.withLock { state in
            state.counters.answersParsed += 1
            for answer in answers.answers { state.table.insert(answer, at: now) }
            state.counters.recordsStored += UInt64(answers.answers.count)
        }
        if !answers.answers.isEmpty, let body = listener.withLock({ $0 }) { body(answers) }
    }

    /// What the observer has done so far (its statistics).
    public var counters: Counters { state.withLock { $0.counters } }

    /// Pending queries now (at most ``pendingCapacity``).
    public var pendingQueryCount: Int { state.withLock { $0.pending.count } }

    // MARK: The socket

    /// UDP to or from port 53 in Ethernet frames, IPv4 (unfragmented, any header length) or IPv6
    /// (UDP right after the fixed header). Jump offsets count from the next instruction.
    private static let filter: [sock_filter] = {
        func op(_ code: Int32, _ k: UInt32, _ ifTrue: UInt8 = 0, _ ifFalse: UInt8 = 0) -> sock_filter {
            sock_filter(code: UInt16(code), jt: ifTrue, jf: ifFalse, k: k)
        }
        return [
            op(BPF_LD | BPF_H | BPF_ABS, 12),              // 0: EtherType
            op(BPF_JMP | BPF_JEQ | BPF_K, 0x0800, 0, 9),   // 1: IPv4? else 11
            op(BPF_LD | BPF_B | BPF_ABS, 23),              // 2: IPv4 protocol
            op(BPF_JMP | BPF_JEQ | BPF_K, 17, 0, 15),      // 3: UDP? else drop
            op(BPF_LD | BPF_H | BPF_ABS, 20),              // 4: flags, fragment offset
            op(BPF_JMP | BPF_JSET | BPF_K, 0x3FFF, 13, 0), // 5: a fragment? drop
            op(BPF_LDX | BPF_B | BPF_MSH, 14),             // 6: X = IPv4 header length
            op(BPF_LD | BPF_H | BPF_IND, 14),              // 7: UDP source port
            op(BPF_JMP | BPF_JEQ | BPF_K, 53, 9, 0),       // 8: 53? accept
            op(BPF_LD | BPF_H | BPF_IND, 16),              // 9: UDP destination port
            op(BPF_JMP | BPF_JEQ | BPF_K, 53, 7, 8),       // 10: 53? accept, else drop
            op(BPF_JMP | BPF_JEQ | BPF_K, 0x86DD, 0, 7),   // 11: IPv6? else drop
            op(BPF_LD | BPF_B | BPF_ABS, 20),              // 12: IPv6 next header
            op(BPF_JMP | BPF_JEQ | BPF_K, 17, 0, 5),       // 13: UDP? else drop
            op(BPF_LD | BPF_H | BPF_ABS, 54),              // 14: UDP source port
            op(BPF_JMP | BPF_JEQ | BPF_K, 53, 2, 0),       // 15: 53? accept
            op(BPF_LD | BPF_H | BPF_ABS, 56),              // 16: UDP destination port
            op(BPF_JMP | BPF_JEQ | BPF_K, 53, 0, 1),       // 17: 53? accept, else drop
            op(BPF_RET | BPF_K, 0xFFFF),                   // 18: accept (whole packet)
            op(BPF_RET | BPF_K, 0),                        // 19: drop
        ]
    }()

    private static func openPacketSocket() throws(ProbeError) -> Int32 {
        // Protocol 0 receives nothing until bind(), so no unfiltered packet is queued first.
        let fd = Glibc.socket(AF_PACKET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            throw ProbeError(operation: "open a packet socket for DNS (needs CAP_NET_RAW)", errno: errno, libbpfLog: [])
        }
        func failure(_ operation: String) -> ProbeError {
            let error = ProbeError(operation: operation, errno: errno, libbpfLog: [])
            close(fd)
            return error
        }
        var program = filter
        let attached = program.withUnsafeMutableBufferPointer { instructions in
            var fprog = sock_fprog(len: UInt16(instructions.count), filter: instructions.baseAddress)
            return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, socklen_t(MemoryLayout<sock_fprog>.size))
        }
        guard attached == 0 else { throw failure("attach the DNS socket filter") }
        var bufferBytes: Int32 = 1 << 20
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufferBytes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_ll()
        address.sll_family = UInt16(AF_PACKET)
        address.sll_protocol = UInt16(ETH_P_ALL).bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_ll>.size)) }
        }
        guard bound == 0 else { throw failure("bind the DNS packet socket") }
        return fd
    }

    private func run() {
        defer { ended.signal() }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 8)
        defer { buffer.deallocate() }
        var pollees = [pollfd(fd: socket, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
        while running.load(ordering: .relaxed) {
            guard poll(&pollees, wakeFD >= 0 ? 2 : 1, 100) > 0 else { continue }
            if pollees[1].revents != 0 {
                var bytes = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
                _ = withUnsafeMutableBytes(of: &bytes) { read(wakeFD, $0.baseAddress, $0.count) }
            }
            defer { drains.add(1, ordering: .releasing) }
            while running.load(ordering: .relaxed) {
                var from = sockaddr_ll()
                var fromLength = socklen_t(MemoryLayout<sockaddr_ll>.size)
                let count = withUnsafeMutablePointer(to: &from) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        recvfrom(socket, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT | MSG_TRUNC), $0, &fromLength)
                    }
                }
                guard count >= 0 else { break }  // drained (EAGAIN), back to poll
                // Loopback (772) frames carry an Ethernet header too; other link types do not.
                guard from.sll_hatype == 1 || from.sll_hatype == 772 else { continue }
                guard count <= buffer.count else {
                    state.withLock { $0.counters.packetsMalformed += 1 }
                    continue
                }
                observe(frame: UnsafeRawBufferPointer(rebasing: buffer[..<count]), outgoing: from.sll_pkttype == PACKET_OUTGOING)
            }
        }
    }

    /// Handles one Ethernet frame the filter passed, as the reader thread does: `outgoing` when
    /// the kernel marks it `PACKET_OUTGOING` (sent by this host). Queries sent become pending;
    /// answers received are stored when they match one.
    func observe(frame: UnsafeRawBufferPointer, outgoing: Bool, at now: ContinuousClock.Instant = .now) {
        guard let datagram = Self.datagram(ofFrame: frame) else {
            state.withLock { $0.counters.packetsMalformed += 1 }
            return
        }
        let isQuery = outgoing && datagram.destinationPort == 53
        let isAnswer = !outgoing && datagram.sourcePort == 53
        guard isQuery || isAnswer else { return }  // the other copy of a loopback frame, or a local server's traffic
        let message: DNSMessage
        do {
            message = try DNSMessage(parsing: datagram.payload)
        } catch {
            state.withLock { $0.counters.packetsMalformed += 1 }
            return
        }
        if isQuery {
            guard !message.isResponse else { return }  // a local server answering from port 53 to port 53
            if let servers, !servers.contains(datagram.destination) {
                state.withLock { $0.counters.queriesIgnored += 1 }
                return
            }
            guard message.questions.count == 1, let question = message.questions.first else { return }
            let key = PendingQueries.Key(id: message.id, name: question.name, type: question.type,
                                         server: datagram.destination, clientPort: datagram.sourcePort)
            state.withLock { state in
                state.counters.queriesSeen += 1
                if state.pending.add(key, at: now) { state.counters.queriesEvicted += 1 }
            }
            return
        }
        guard message.isResponse else { return }  // a query arriving from port 53
        let matched: Bool
        if message.questions.count == 1, let question = message.questions.first {
            let key = PendingQueries.Key(id: message.id, name: question.name, type: question.type,
                                         server: datagram.source, clientPort: datagram.destinationPort)
            matched = state.withLock { $0.pending.take(key, at: now) }
        } else {
            matched = false
        }
        guard matched else {
            state.withLock { $0.counters.answersRejected += 1 }
            return
        }
        record(message.answerSet, at: now)
    }

    /// A UDP datagram read out of a frame: addresses as `SocketAddress.address` writes them.
    struct Datagram {
        var source: String
        var destination: String
        var sourcePort: UInt16
        var destinationPort: UInt16
        var payload: UnsafeRawBufferPointer
    }

    /// The UDP datagram of an Ethernet frame carrying IPv4 or IPv6 UDP, or nil when the frame is
    /// not one or its lengths disagree.
    static func datagram(ofFrame frame: UnsafeRawBufferPointer) -> Datagram? {
        func word(_ at: Int) -> Int { Int(frame[at]) << 8 | Int(frame[at + 1]) }
        guard frame.count >= 14 else { return nil }
        let udp: Int, end: Int
        let source: String, destination: String
        switch word(12) {
        case 0x0800:
            guard frame.count >= 34, frame[14] >> 4 == 4, frame[23] == 17, word(20) & 0x3FFF == 0 else { return nil }
            udp = 14 + Int(frame[14] & 0x0F) * 4
            end = 14 + word(16)
            source = (26..<30).map { String(frame[$0]) }.joined(separator: ".")
            destination = (30..<34).map { String(frame[$0]) }.joined(separator: ".")
        case 0x86DD:
            guard frame.count >= 62, frame[14] >> 4 == 6, frame[20] == 17 else { return nil }
            udp = 54
            end = 54 + word(18)
            source = SocketAddress.formatIPv6(Array(frame[22..<38]))
            destination = SocketAddress.formatIPv6(Array(frame[38..<54]))
        default:
            return nil
        }
        guard udp >= 34, udp + 8 <= end, end <= frame.count else { return nil }
        let datagramEnd = udp + word(udp + 4)
        guard datagramEnd >= udp + 8, datagramEnd <= end else { return nil }
        return Datagram(source: source, destination: destination, sourcePort: UInt16(word(udp)),
                        destinationPort: UInt16(word(udp + 2)),
                        payload: UnsafeRawBufferPointer(rebasing: frame[(udp + 8)..<datagramEnd]))
    }

    /// The UDP payload of an Ethernet frame carrying IPv4 or IPv6 UDP from port 53, or nil.
    static func dnsPayload(ofFrame frame: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        guard let datagram = datagram(ofFrame: frame), datagram.sourcePort == 53 else { return nil }
        return datagram.payload
    }
}

/// DNS queries sent and not yet answered, each kept until its answer, its timeout, or until the
/// table is full and it is the oldest. Memory is bounded: at most `capacity` keys, and an order
/// queue rebuilt whenever it holds more than four times as many slots.
struct PendingQueries {
    /// What an answer must repeat to match its query.
    struct Key: Hashable {
        var id: UInt16
        /// The question name, lower case.
        var name: String
        var type: UInt16
        /// The address the query went to; the answer must come from it.
        var server: String
        /// The query's source port; the answer must go to it.
        var clientPort: UInt16
    }

    private struct Entry {
        var expiry: ContinuousClock.Instant
        var sequence: UInt64
    }

    let capacity: Int
    let timeout: Duration
    private var entries: [Key: Entry] = [:]
    /// Keys in the order they were added (so in expiry order); a slot whose sequence is not the
    /// entry's any more is stale (answered, renewed or evicted) and skipped.
    private var order: [(key: Key, sequence: UInt64)] = []
    private var head = 0
    private var sequence: UInt64 = 0

    init(capacity: Int, timeout: Duration) {
        self.capacity = max(capacity, 1)
        self.timeout = timeout
    }

    /// Pending queries.
    var count: Int { entries.count }
    /// Slots of the order queue in use (for the memory bound's tests).
    var orderSlots: Int { order.count - head }

    /// Keeps `key` pending until `now + timeout` (a retry renews it); true when another pending
    /// query had to be forgotten to make room.
    mutating func add(_ key: Key, at now: ContinuousClock.Instant) -> Bool {
        expire(at: now)
        var evicted = false
        if entries[key] == nil, entries.count >= capacity {
            evictOldest()
            evicted = true
        }
        sequence += 1
        entries[key] = Entry(expiry: now + timeout, sequence: sequence)
        order.append((key, sequence))
        if order.count - head > 4 * capacity { rebuildOrder() } else if head > 1024, head * 2 > order.count { compact() }
        return evicted
    }

    /// Whether `key` is pending (not expired); if so it is answered and no longer pending.
    mutating func take(_ key: Key, at now: ContinuousClock.Instant) -> Bool {
        expire(at: now)
        return entries.removeValue(forKey: key) != nil
    }

    private mutating func expire(at now: ContinuousClock.Instant) {
        while head < order.count {
            let slot = order[head]
            if let entry = entries[slot.key], entry.sequence == slot.sequence {
                guard entry.expiry <= now else { break }
                entries[slot.key] = nil
            }
            head += 1
        }
    }

    private mutating func evictOldest() {
        while head < order.count {
            let slot = order[head]
            head += 1
            if let entry = entries[slot.key], entry.sequence == slot.sequence {
                entries[slot.key] = nil
                return
            }
        }
    }

    private mutating func compact() {
        order.removeFirst(head)
        head = 0
    }

    /// Only the live slots, in order.
    private mutating func rebuildOrder() {
        order = order[head...].filter { entries[$0.key]?.sequence == $0.sequence }
        head = 0
    }
}

/// Address → names, each with an expiry; bounded, evicting the addresses updated longest ago.
struct AddressNames {
    struct Name {
        var name: String
        var expiry: ContinuousClock.Instant
    }

    struct Entry {
        var names: [Name] = []  // most recent first
        var updated: UInt64 = 0
    }

    let capacity: Int
    /// How long a name is kept at least, whatever its TTL: caches Probity does not see (nscd,
    /// a JVM's) go on handing the address out after the TTL; nscd's default is an hour.
    static let minimumSeconds: UInt32 = 3600
    /// Names kept per address (a CDN address can serve thousands).
    let namesPerAddress = 32
    private(set) var entries: [String: Entry] = [:]
    private var updates: UInt64 = 0

    init(capacity: Int) { self.capacity = max(capacity, 1) }

    mutating func insert(_ answer: DNSAnswer, at now: ContinuousClock.Instant) {
        if entries[answer.address] == nil, entries.count >= capacity { evict(at: now) }
        updates += 1
        let seconds = Int64(min(max(answer.ttl, Self.minimumSeconds), 86_400))
        let name = Name(name: answer.name, expiry: now + .seconds(seconds))
        var entry = entries.removeValue(forKey: answer.address) ?? Entry()  // unshared: edited in place
        entry.names.removeAll { $0.name == answer.name }
        entry.names.insert(name, at: 0)
        if entry.names.count > namesPerAddress { entry.names.removeLast(entry.names.count - namesPerAddress) }
        entry.updated = updates
        entries[answer.address] = entry
    }

    func names(for address: String, at now: ContinuousClock.Instant) -> [String] {
        entries[address]?.names.filter { $0.expiry > now }.map(\.name) ?? []
    }

    /// Drops expired addresses, then, if still full, the eighth updated longest ago.
    private mutating func evict(at now: ContinuousClock.Instant) {
        entries = entries.filter { $0.value.names.contains { $0.expiry > now } }
        guard entries.count >= capacity else { return }
        let oldest = entries.sorted { $0.value.updated < $1.value.updated }.prefix(max(capacity / 8, 1))
        for (address, _) in oldest { entries[address] = nil }
    }
}
