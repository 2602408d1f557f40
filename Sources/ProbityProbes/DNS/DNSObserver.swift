#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import CProbityBPF

/// Watches the DNS answers this host receives and remembers, for each address, the names it
/// was given for: the kernel reports a connect to 10.0.0.5, and this says it was `allowed.test`.
///
/// It reads a packet socket (`AF_PACKET`, `SOCK_RAW`, every protocol, every interface of the
/// network namespace it was created in, loopback included) whose classic BPF filter passes only
/// UDP from port 53 over IPv4 and IPv6, so that the reader thread wakes for DNS answers alone.
/// Copies of packets this host sends are dropped, so each answer is counted once.
///
/// Not seen: DNS over TCP, TLS or HTTPS; fragmented answers; IPv6 packets with extension
/// headers; links without Ethernet framing (tun, WireGuard).
public final class DNSObserver: @unchecked Sendable {
    // Safety: `thread` is touched only by start() and stop(), which callers do not race;
    // everything the reader thread shares is behind `state` or atomic.

    /// What the observer has done so far.
    public struct Counters: Sendable, Hashable {
        /// DNS responses read (through the socket or `record(_:at:)`), with or without answers.
        public var answersParsed: UInt64 = 0
        /// Packets that passed the filter but were not a well-formed IP/UDP/DNS message.
        public var packetsMalformed: UInt64 = 0
        /// Address → name facts stored.
        public var recordsStored: UInt64 = 0

        public init(answersParsed: UInt64 = 0, packetsMalformed: UInt64 = 0, recordsStored: UInt64 = 0) {
            self.answersParsed = answersParsed
            self.packetsMalformed = packetsMalformed
            self.recordsStored = recordsStored
        }
    }

    private struct State {
        var table: AddressNames
        var counters = Counters()
    }

    private let state: Mutex<State>
    private let socket: Int32  // -1 when unattached
    private let running = Atomic<Bool>(false)
    private let finished = Atomic<Bool>(true)
    private var thread: Thread?
    private let listener = Mutex<(@Sendable (DNSAnswerSet) -> Void)?>(nil)

    /// Called on the reader thread with every response that has answers, after they are stored
    /// (enforce mode turns allowed names into kernel entries from here).
    public func onAnswers(_ body: @escaping @Sendable (DNSAnswerSet) -> Void) {
        listener.withLock { $0 = body }
    }

    /// Opens the packet socket and attaches its filter; `start()` begins reading.
    ///
    /// Needs root or `CAP_NET_RAW`. `capacity` bounds the number of addresses remembered.
    public convenience init(capacity: Int = 65_536) throws(ProbeError) {
        self.init(socket: try Self.openPacketSocket(), capacity: capacity)
    }

    /// An observer without a socket, fed only through `record(_:at:)` (tests, replays).
    public static func unattached(capacity: Int = 65_536) -> DNSObserver {
        DNSObserver(socket: -1, capacity: capacity)
    }

    private init(socket: Int32, capacity: Int) {
        self.socket = socket
        state = Mutex(State(table: AddressNames(capacity: capacity)))
    }

    deinit {
        stop()
        if socket >= 0 { close(socket) }
    }

    /// Starts the reader thread (no-op when unattached or already started).
    public func start() {
        guard socket >= 0, !running.exchange(true, ordering: .acquiringAndReleasing) else { return }
        finished.store(false, ordering: .releasing)
        let thread = Thread { [self] in self.run() }
        thread.name = "probity-dns"
        self.thread = thread
        thread.start()
    }

    /// Stops the reader thread; returns once it has (within about 100 ms).
    public func stop() {
        guard running.exchange(false, ordering: .acquiringAndReleasing) else { return }
        while !finished.load(ordering: .acquiring) { usleep(1000) }
        thread = nil
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

    /// Stores the facts of one DNS response, as the reader thread does for each it sees.
    public func record(_ answers: DNSAnswerSet, at now: ContinuousClock.Instant = .now) {
        state.withLock { state in
            state.counters.answersParsed += 1
            for answer in answers.answers { state.table.insert(answer, at: now) }
            state.counters.recordsStored += UInt64(answers.answers.count)
        }
        if !answers.answers.isEmpty, let body = listener.withLock({ $0 }) { body(answers) }
    }

    public var counters: Counters { state.withLock { $0.counters } }

    // MARK: The socket

    /// UDP from port 53 in Ethernet frames, IPv4 (unfragmented, any header length) or IPv6
    /// (UDP right after the fixed header). Jump offsets count from the next instruction.
    private static let filter: [sock_filter] = {
        func op(_ code: Int32, _ k: UInt32, _ ifTrue: UInt8 = 0, _ ifFalse: UInt8 = 0) -> sock_filter {
            sock_filter(code: UInt16(code), jt: ifTrue, jf: ifFalse, k: k)
        }
        return [
            op(BPF_LD | BPF_H | BPF_ABS, 12),              // 0: EtherType
            op(BPF_JMP | BPF_JEQ | BPF_K, 0x0800, 0, 7),   // 1: IPv4? else 9
            op(BPF_LD | BPF_B | BPF_ABS, 23),              // 2: IPv4 protocol
            op(BPF_JMP | BPF_JEQ | BPF_K, 17, 0, 11),      // 3: UDP? else drop
            op(BPF_LD | BPF_H | BPF_ABS, 20),              // 4: flags, fragment offset
            op(BPF_JMP | BPF_JSET | BPF_K, 0x3FFF, 9, 0),  // 5: a fragment? drop
            op(BPF_LDX | BPF_B | BPF_MSH, 14),             // 6: X = IPv4 header length
            op(BPF_LD | BPF_H | BPF_IND, 14),              // 7: UDP source port
            op(BPF_JMP | BPF_JEQ | BPF_K, 53, 5, 6),       // 8: 53? accept, else drop
            op(BPF_JMP | BPF_JEQ | BPF_K, 0x86DD, 0, 5),   // 9: IPv6? else drop
            op(BPF_LD | BPF_B | BPF_ABS, 20),              // 10: IPv6 next header
            op(BPF_JMP | BPF_JEQ | BPF_K, 17, 0, 3),       // 11: UDP? else drop
            op(BPF_LD | BPF_H | BPF_ABS, 54),              // 12: UDP source port
            op(BPF_JMP | BPF_JEQ | BPF_K, 53, 0, 1),       // 13: 53? accept, else drop
            op(BPF_RET | BPF_K, 0xFFFF),                   // 14: accept (whole packet)
            op(BPF_RET | BPF_K, 0),                        // 15: drop
        ]
    }()

    private static func openPacketSocket() throws(ProbeError) -> Int32 {
        // Protocol 0 receives nothing until bind(), so no unfiltered packet is queued first.
        let fd = Glibc.socket(AF_PACKET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            throw ProbeError(operation: "open a packet socket for DNS answers (needs CAP_NET_RAW)", errno: errno, libbpfLog: [])
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
        defer { finished.store(true, ordering: .releasing) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 8)
        defer { buffer.deallocate() }
        var pollee = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        while running.load(ordering: .relaxed) {
            guard poll(&pollee, 1, 100) > 0 else { continue }
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
                guard from.sll_pkttype != PACKET_OUTGOING, from.sll_hatype == 1 || from.sll_hatype == 772 else { continue }
                handle(frame: UnsafeRawBufferPointer(rebasing: buffer[..<min(count, buffer.count)]), complete: count <= buffer.count)
            }
        }
    }

    private func handle(frame: UnsafeRawBufferPointer, complete: Bool) {
        guard complete, let payload = Self.dnsPayload(ofFrame: frame) else {
            state.withLock { $0.counters.packetsMalformed += 1 }
            return
        }
        do {
            let message = try DNSMessage(parsing: payload)
            if message.isResponse { record(message.answerSet) }
        } catch {
            state.withLock { $0.counters.packetsMalformed += 1 }
        }
    }

    /// The UDP payload of an Ethernet frame carrying IPv4 or IPv6 UDP from port 53, or nil.
    static func dnsPayload(ofFrame frame: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        func word(_ at: Int) -> Int { Int(frame[at]) << 8 | Int(frame[at + 1]) }
        guard frame.count >= 14 else { return nil }
        let udp: Int, end: Int
        switch word(12) {
        case 0x0800:
            guard frame.count >= 34, frame[14] >> 4 == 4, frame[23] == 17, word(20) & 0x3FFF == 0 else { return nil }
            udp = 14 + Int(frame[14] & 0x0F) * 4
            end = 14 + word(16)
        case 0x86DD:
            guard frame.count >= 62, frame[14] >> 4 == 6, frame[20] == 17 else { return nil }
            udp = 54
            end = 54 + word(18)
        default:
            return nil
        }
        guard udp >= 34, udp + 8 <= end, end <= frame.count, word(udp) == 53 else { return nil }
        let datagramEnd = udp + word(udp + 4)
        guard datagramEnd >= udp + 8, datagramEnd <= end else { return nil }
        return UnsafeRawBufferPointer(rebasing: frame[(udp + 8)..<datagramEnd])
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
