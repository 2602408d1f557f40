#if canImport(Glibc)
import Glibc
#endif
import Foundation
import XCTest
import ProbityMonitor
import ProbityProbes

/// Real DNS answers from a real dnsmasq, seen by `DNSObserver` on a packet socket.
///
/// Each test makes its own network namespace, joined to this one by a veth pair (10.203.0.1/24
/// and fd03:203::1/64 here, .2 and ::2 there), runs dnsmasq inside it, and removes everything
/// when done. dnsmasq and iproute2 come from `make deps`; their absence fails the tests.
final class DNSObserverTests: XCTestCase {
    func testAnswersOverVethNameTheirAddresses() throws {
        let network = try DNSTestNetwork(listenAddresses: ["10.203.0.2", "fd03:203::2"])
        defer { network.close() }
        // The configured path: the server asked is one of the resolvers the observer was given.
        let observer = try DNSObserver(servers: ["10.203.0.2", "fd03:203::2"])
        observer.start()
        defer { observer.stop() }

        let responses = try network.query(["10.203.0.2,allowed.test,1", "10.203.0.2,other.test,1", "10.203.0.2,www.allowed.test,1", "fd03:203::2,allowed.test,28"])
        XCTAssertEqual(responses, 4)
        let seen = waitForNames(observer, ["10.203.0.10": ["allowed.test", "www.allowed.test"], "10.203.0.11": ["other.test"], "fd00::10": ["allowed.test"]])
        XCTAssertTrue(seen, "names: \(dump(observer)) counters: \(observer.counters)\ndnsmasq: \(network.log)")
        XCTAssertEqual(observer.names(for: "10.203.0.10").first, "www.allowed.test", "the latest answer first")
        XCTAssertGreaterThanOrEqual(observer.counters.answersParsed, 4)
    }

    /// Loopback frames are seen twice by a packet socket (out, then in): each answer must count
    /// once. The observer is opened inside the test namespace, where no other DNS traffic runs,
    /// so the counts are exact.
    func testLoopbackAnswersCountOnce() throws {
        let network = try DNSTestNetwork(listenAddresses: ["127.0.0.1", "::1"])
        defer { network.close() }
        let observer = try network.inside { () throws(ProbeError) in try DNSObserver() }
        observer.start()
        defer { observer.stop() }

        let responses = try network.query(["127.0.0.1,allowed.test,1", "::1,allowed.test,28", "127.0.0.1,nothing.test,1"], fromInside: true)
        XCTAssertEqual(responses, 3)
        XCTAssertTrue(waitForNames(observer, ["10.203.0.10": ["allowed.test"], "fd00::10": ["allowed.test"]]),
                      "names: \(dump(observer)) counters: \(observer.counters)\ndnsmasq: \(network.log)")
        usleep(200_000)  // let any duplicate arrive before counting
        XCTAssertEqual(observer.counters, DNSObserver.Counters(answersParsed: 3, packetsMalformed: 0, recordsStored: 2, queriesSeen: 3))
    }

    /// (b) Answers nobody asked for — a well-formed UDP datagram from port 53 mapping
    /// files.pythonhosted.org to the attacker's address, sent to a local port with no query
    /// outstanding, once from another address and once from the configured server's own — are
    /// counted and not believed; a real query and answer through the configured server are.
    func testForgedAnswersWithoutAQueryAreNotBelieved() throws {
        let network = try DNSTestNetwork(listenAddresses: ["10.203.0.2"])
        defer { network.close() }
        try network.addAddress("10.203.0.3/24")
        let observer = try DNSObserver(servers: ["10.203.0.2"])
        observer.start()
        defer { observer.stop() }

        try network.python(Self.answerBuilder + """
            forged = answer(0x5052, 'files.pythonhosted.org', '10.203.0.3')
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('10.203.0.3', 53))
            s.sendto(forged, ('10.203.0.1', 40053))
            # The same from the configured server's address and port, written as a raw IP packet.
            udp = struct.pack('>4H', 53, 40053, 8 + len(forged), 0) + forged
            ip = struct.pack('>BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                             socket.inet_aton('10.203.0.2'), socket.inet_aton('10.203.0.1'))
            r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
            r.sendto(ip + udp, ('10.203.0.1', 0))
            """)
        // A real lookup afterwards: once its answer is in, the forged ones (read first) were handled.
        XCTAssertEqual(try network.query(["10.203.0.2,allowed.test,1"]), 1)
        XCTAssertTrue(waitForNames(observer, ["10.203.0.10": ["allowed.test"]]), "counters: \(observer.counters)\ndnsmasq: \(network.log)")
        XCTAssertEqual(observer.names(for: "10.203.0.3"), [], "the forged answer gave the attacker's address no name")
        XCTAssertGreaterThanOrEqual(observer.counters.answersRejected, 2, "\(observer.counters)")
    }

    /// (c) An answer with the right id and name from another server than the one asked is
    /// rejected; the asked server's answer is believed; (d) a second answer to the same query
    /// is rejected. A scripted server in the namespace (10.203.0.4) plays both parts.
    func testAnswersFromAnotherServerAndSecondAnswersAreRejected() throws {
        let network = try DNSTestNetwork(listenAddresses: ["10.203.0.2"])
        defer { network.close() }
        try network.addAddress("10.203.0.3/24")
        try network.addAddress("10.203.0.4/24")
        let observer = try DNSObserver(servers: ["10.203.0.4"])
        observer.start()
        defer { observer.stop() }

        let server = try network.pythonInBackground(Self.answerBuilder + """
            asked = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); asked.bind(('10.203.0.4', 53))
            other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); other.bind(('10.203.0.3', 53))
            print('ready', flush=True)
            asked.settimeout(10)
            query, client = asked.recvfrom(4096)
            qid = struct.unpack('>H', query[:2])[0]
            other.sendto(answer(qid, 'files.pythonhosted.org', '10.203.0.3'), client)   # (c) another server
            time.sleep(0.2)
            asked.sendto(answer(qid, 'files.pythonhosted.org', '10.203.0.20'), client)  # the real answer
            time.sleep(0.2)
            asked.sendto(answer(qid, 'files.pythonhosted.org', '10.203.0.21'), client)  # (d) a second answer
            """)
        defer { server.close() }
        let before = observer.counters.answersRejected
        let client = """
            import socket, struct
            labels = b''.join(bytes([len(l)]) + l.encode() for l in 'files.pythonhosted.org'.split('.'))
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
            s.sendto(struct.pack('>6H', 0x7a7a, 0x0100, 1, 0, 0, 0) + labels + b'\\0' + struct.pack('>2H', 1, 1), ('10.203.0.4', 53))
            for _ in range(3): s.recvfrom(4096)
            print(3)
            """
        XCTAssertEqual(try network.run(["/usr/bin/env", "python3", "-c", client]).trimmingCharacters(in: .whitespacesAndNewlines), "3")
        XCTAssertTrue(waitForNames(observer, ["10.203.0.20": ["files.pythonhosted.org"]]), "counters: \(observer.counters)")
        let deadline = ContinuousClock.now + .seconds(3)
        while observer.counters.answersRejected < before + 2 && ContinuousClock.now < deadline { usleep(10_000) }
        XCTAssertEqual(observer.names(for: "10.203.0.3"), [], "an answer from a server not asked")
        XCTAssertEqual(observer.names(for: "10.203.0.21"), [], "a second answer to an answered query")
        XCTAssertGreaterThanOrEqual(observer.counters.answersRejected, before + 2, "\(observer.counters)")
    }

    /// Python that builds an answer: `answer(id, name, address)`, one A record, TTL 300.
    static let answerBuilder = """
        import socket, struct, time
        def answer(qid, qname, address):
            labels = b''.join(bytes([len(l)]) + l.encode() for l in qname.split('.')) + b'\\0'
            return (struct.pack('>6H', qid, 0x8180, 1, 1, 0, 0) + labels + struct.pack('>2H', 1, 1)
                    + b'\\xc0\\x0c' + struct.pack('>HHIH', 1, 1, 300, 4) + socket.inet_aton(address))

        """

    func testStopIsPrompt() throws {
        let observer = try DNSObserver()
        observer.start()
        let start = ContinuousClock.now
        observer.stop()
        XCTAssertLessThan(ContinuousClock.now - start, .milliseconds(500))
    }

    private func waitForNames(_ observer: DNSObserver, _ expected: [String: Set<String>]) -> Bool {
        let deadline = ContinuousClock.now + .seconds(3)
        while ContinuousClock.now < deadline {
            if expected.allSatisfy({ $0.value.isSubset(of: observer.names(for: $0.key)) }) { return true }
            usleep(10_000)
        }
        return false
    }

    private func dump(_ observer: DNSObserver) -> String {
        ["10.203.0.10", "10.203.0.11", "fd00::10"].map { "\($0): \(observer.names(for: $0))" }.joined(separator: ", ")
    }
}

/// A network namespace for one test, joined to this one by a veth pair, with dnsmasq inside
/// answering allowed.test (10.203.0.10, fd00::10), www.allowed.test (CNAME of allowed.test) and
/// other.test (10.203.0.11), with TTL 0 as dnsmasq gives its own records.
final class DNSTestNetwork {
    let namespace: String
    let hostLink: String
    private let ip: String
    private let logPath: String
    private var dnsmasq: GatedChild?

    init(listenAddresses: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        ip = try Self.tool("ip", file: file, line: line)
        let dnsmasqPath = try Self.tool("dnsmasq", file: file, line: line)
        let tag = String(UInt32.random(in: 0x10_0000...0xFF_FFFF), radix: 16)
        namespace = "probity-dns-\(getpid())-\(tag)"
        hostLink = "pdns\(tag)"
        logPath = "/tmp/probity-dnsmasq-\(tag).log"
        removeLeftovers()
        do {
            try run(ip, "netns", "add", namespace)
            try run(ip, "link", "add", hostLink, "type", "veth", "peer", "name", "dns0", "netns", namespace)
            try run(ip, "addr", "add", "10.203.0.1/24", "dev", hostLink)
            try run(ip, "-6", "addr", "add", "fd03:203::1/64", "dev", hostLink, "nodad")
            try run(ip, "link", "set", hostLink, "up")
            try run(ip, "-n", namespace, "addr", "add", "10.203.0.2/24", "dev", "dns0")
            try run(ip, "-n", namespace, "-6", "addr", "add", "fd03:203::2/64", "dev", "dns0", "nodad")
            try run(ip, "-n", namespace, "link", "set", "dns0", "up")
            try run(ip, "-n", namespace, "link", "set", "lo", "up")

            // Not Foundation's Process: it takes dnsmasq closing its inherited descriptors for an exit.
            let quietly = ["/bin/sh", "-c", "exec \"$0\" \"$@\" >/dev/null 2>&1"]  // it logs to logPath too
            let server = try GatedChild(command: quietly + [ip, "netns", "exec", namespace, dnsmasqPath, "--no-daemon", "--conf-file=/dev/null",
                                                  "--no-resolv", "--no-hosts", "--bind-interfaces", "--pid-file=", "--user=root",
                                                  "--log-queries", "--log-facility=\(logPath)",
                                                  "--host-record=allowed.test,10.203.0.10,fd00::10", "--host-record=other.test,10.203.0.11",
                                                  "--cname=www.allowed.test,allowed.test"] + listenAddresses.map { "--listen-address=\($0)" })
            server.release()
            dnsmasq = server
        } catch {
            close()
            XCTFail("setting up the test network: \(error)", file: file, line: line)
            throw error
        }
    }

    /// Removes the namespaces of test runs that were killed before they could (their address
    /// ranges would clash with this run's).
    private func removeLeftovers() {
        let names = (try? run(ip, "netns", "list")) ?? ""
        for line in names.split(separator: "\n") {
            let name = String(line.prefix { $0 != " " })
            let fields = name.split(separator: "-")
            guard name.hasPrefix("probity-dns-"), fields.count == 4, let pid = Int32(fields[2]), kill(pid, 0) != 0, errno == ESRCH else { continue }
            try? run(ip, "netns", "del", name)
        }
    }

    /// Adds an address to the namespace's end of the veth pair.
    func addAddress(_ cidr: String) throws {
        try run(ip, "-n", namespace, "addr", "add", cidr, "dev", "dns0")
    }

    /// Runs a Python script inside the namespace; returns its standard output.
    @discardableResult
    func python(_ script: String) throws -> String {
        try run([ip, "netns", "exec", namespace, "/usr/bin/env", "python3", "-c", script])
    }

    /// Starts a Python script inside the namespace and returns once it has printed `ready`.
    func pythonInBackground(_ script: String) throws -> BackgroundScript {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ip)
        process.arguments = ["netns", "exec", namespace, "/usr/bin/env", "python3", "-c", script]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        var seen = Data()
        while !String(decoding: seen, as: UTF8.self).contains("ready") {
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else { throw CommandFailure(command: "python3 (background)", status: -1, errors: "exited before it was ready") }
            seen += chunk
        }
        return BackgroundScript(process: process)
    }

    /// A script started by ``pythonInBackground(_:)``; `close()` stops it.
    struct BackgroundScript {
        let process: Process
        func close() {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
        }
    }

    /// What dnsmasq logged.
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Stops dnsmasq, removes the namespace (and with it the veth pair) and the log.
    func close() {
        if let dnsmasq {
            kill(dnsmasq.pid, SIGTERM)
            dnsmasq.wait()
        }
        dnsmasq = nil
        try? run(ip, "netns", "del", namespace)
        try? run(ip, "link", "del", hostLink)  // normally gone with the namespace
        unlink(logPath)
    }

    /// Sends one DNS query per "server,name,type" with Python's socket module, retrying while
    /// dnsmasq is not yet listening; returns the number of responses received.
    func query(_ queries: [String], fromInside: Bool = false) throws -> Int {
        let script = """
            import socket, struct, sys, time
            def query(server, name, qtype):
                family = socket.AF_INET6 if ':' in server else socket.AF_INET
                labels = b''.join(bytes([len(l)]) + l.encode() for l in name.split('.'))
                message = struct.pack('>6H', 0x5052, 0x0100, 1, 0, 0, 0) + labels + b'\\0' + struct.pack('>2H', qtype, 1)
                deadline = time.time() + 10
                while time.time() < deadline:
                    s = socket.socket(family, socket.SOCK_DGRAM)
                    s.settimeout(0.5)
                    try:
                        s.connect((server, 53))
                        s.send(message)
                        return s.recv(4096)
                    except (ConnectionRefusedError, socket.timeout):
                        time.sleep(0.1)
                    finally:
                        s.close()
                sys.exit('no answer from %s for %s' % (server, name))
            for item in sys.argv[1:]:
                server, name, qtype = item.split(',')
                query(server, name, int(qtype))
            print(len(sys.argv) - 1)
            """
        let python = ["/usr/bin/env", "python3", "-c", script] + queries
        let output = try run(fromInside ? [ip, "netns", "exec", namespace] + python : python)
        return Int(output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    /// Runs `body` on this thread inside the namespace (for sockets that must live there).
    func inside<T, E: Error>(_ body: () throws(E) -> T) throws -> T {
        // setns(2) is not in Swift's Glibc module (it needs _GNU_SOURCE).
        typealias SetNS = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(nil, "setns") else { throw POSIXError(.ENOSYS) }
        let setns = unsafeBitCast(symbol, to: SetNS.self)
        let newNetworkNamespace: Int32 = 0x4000_0000  // CLONE_NEWNET
        let home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        let target = open("/run/netns/\(namespace)", O_RDONLY | O_CLOEXEC)
        defer { Glibc.close(home); Glibc.close(target) }
        guard home >= 0, target >= 0, setns(target, newNetworkNamespace) == 0 else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        defer { precondition(setns(home, newNetworkNamespace) == 0, "back to the test's network namespace") }
        return try body()
    }

    static func tool(_ name: String, file: StaticString, line: UInt) throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for directory in path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
            if FileManager.default.isExecutableFile(atPath: "\(directory)/\(name)") { return "\(directory)/\(name)" }
        }
        XCTFail("\(name) is not installed: `make deps` installs it (the DNS kernel tests need it)", file: file, line: line)
        throw POSIXError(.ENOENT)
    }

    @discardableResult
    private func run(_ arguments: String...) throws -> String { try run(arguments) }

    @discardableResult
    func run(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CommandFailure(command: arguments.joined(separator: " "), status: process.terminationStatus, errors: String(decoding: err, as: UTF8.self))
        }
        return String(decoding: out, as: UTF8.self)
    }

    struct CommandFailure: Error, CustomStringConvertible {
        var command: String, status: Int32, errors: String
        var description: String { "`\(command.prefix(200))` exited \(status): \(errors)" }
    }
}
