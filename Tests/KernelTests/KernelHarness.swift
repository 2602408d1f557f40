#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import XCTest
import ProbityAttribution
import ProbityEvents
import ProbityMonitor
import ProbityProbes
import ProbityProcess

/// Runs a real command under real probes and collects what the kernel reported about its tree.
///
/// These tests never skip: a machine where the probes cannot load fails them (CI runs as root
/// on a kernel that loads them).
struct TracedRun {
    var events: [Event]
    /// The attribution of each event (same order), when the run had an index.
    var attributions: [Attribution?] = []
    var exitStatus: Int32
    var childPID: Int32
    var statistics: MonitorStatistics
    var table: ProcessTable

    var execs: [ProcessExec] { events.compactMap { if case .exec(let e) = $0 { e } else { nil } } }
    var opens: [FileOpen] { events.compactMap { if case .open(let e) = $0 { e } else { nil } } }
    var connects: [NetworkConnect] { events.compactMap { if case .connect(let e) = $0 { e } else { nil } } }
    var forks: [ProcessFork] { events.compactMap { if case .fork(let e) = $0 { e } else { nil } } }
    var exits: [ProcessExit] { events.compactMap { if case .exit(let e) = $0 { e } else { nil } } }
    var ioUring: [IOUringActivity] { events.compactMap { if case .ioUring(let e) = $0 { e } else { nil } } }
    var removals: [FileRemoval] { events.compactMap { if case .unlink(let e) = $0 { e } else { nil } } }

    /// Text of every event, for failure messages.
    var dump: String {
        events.prefix(400).map { "\($0)" }.joined(separator: "\n")
    }
}

final class EventCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [Event] = []
    private var attributions: [Attribution?] = []
    func add(_ e: Event, _ a: Attribution?) { lock.lock(); events.append(e); attributions.append(a); lock.unlock() }
    var all: [Event] { lock.lock(); defer { lock.unlock() }; return events }
    var allAttributions: [Attribution?] { lock.lock(); defer { lock.unlock() }; return attributions }
}

enum Kernel {
    /// Runs a program to its end and returns its exit status and what it printed (standard output,
    /// and standard error too when `mergeErrors`).
    @discardableResult
    static func output(_ program: String, _ arguments: [String], mergeErrors: Bool = false,
                       environment: [String: String] = [:]) throws -> (status: Int32, text: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let out = Pipe()
        process.standardOutput = out
        if mergeErrors { process.standardError = out }
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }

    /// The built `probity` binary, beside the test bundle.
    static func probityBinary() throws -> URL {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<3 {
            let candidate = dir.appendingPathComponent("probity")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        let fallback = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug/probity")
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: fallback.path), "probity is built (swift build)")
        return fallback
    }

    /// Runs `command` gated, following exactly its tree.
    static func trace(
        _ command: [String], ringBufferBytes: Int = 8 << 20, coalesceWindowNanoseconds: UInt64 = 0,
        attribution: PathIndex? = nil, file: StaticString = #filePath, line: UInt = #line
    ) throws -> TracedRun {
        let child = try GatedChild(command: command)
        var options = MonitorOptions()
        options.probes.followPIDs = [child.pid]
        options.probes.ringBufferBytes = ringBufferBytes
        options.probes.coalesceWindowNanoseconds = coalesceWindowNanoseconds
        options.attributionIndex = attribution
        let monitor: Monitor
        do {
            monitor = try Monitor(options: options)
        } catch {
            child.abandon()
            let ci = ProcessInfo.processInfo.environment["CI"] == "true"
            XCTFail("the probes must load here\(ci ? " (CI=true)" : ""): \(error)", file: file, line: line)
            throw error
        }
        let collector = EventCollector()
        let sawExit = Atomic<Bool>(false)
        let childPID = child.pid
        monitor.start { event, context in
            collector.add(event, context.attribution)
            if case .exit(let x) = event, x.header.pid == childPID { sawExit.store(true, ordering: .releasing) }
        }
        child.release()
        let status = child.wait()
        let deadline = Date().addingTimeInterval(5)
        while !sawExit.load(ordering: .acquiring) && Date() < deadline { usleep(2000) }
        monitor.stop()
        let stats = monitor.statistics
        let table = monitor.processTable
        monitor.close()
        XCTAssertTrue(sawExit.load(ordering: .acquiring), "the command's exit event arrived", file: file, line: line)
        return TracedRun(events: collector.all, attributions: collector.allAttributions, exitStatus: status, childPID: child.pid, statistics: stats, table: table)
    }

    /// A python3 one-off script, run under the probes.
    static func python(_ script: String, coalesceWindowNanoseconds: UInt64 = 0, ringBufferBytes: Int = 8 << 20) throws -> TracedRun {
        try trace(["python3", "-c", script], ringBufferBytes: ringBufferBytes, coalesceWindowNanoseconds: coalesceWindowNanoseconds)
    }

    /// A TCP port on 127.0.0.1 that nothing listens on (the kernel's pick, released at once).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw POSIXError(.EADDRINUSE) }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// A fresh directory under /tmp, removed by the caller.
    static func temporaryDirectory() throws -> String {
        var template = Array("/tmp/probity-test-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw POSIXError(.EIO) }
        return String(cString: p)
    }
}

/// The built `probity` command run as a user would, for the CI gate's tests.
enum ProbityCommand {
    struct Finished {
        var status: Int32
        var stderr: String
    }

    /// Runs probity with fork/exec and waitpid (Foundation's `Process` waits for every holder of
    /// a descriptor it leaks into the child, and a survivor the command leaves behind holds one),
    /// in `directory` when given (the run's workspace).
    static func run(_ arguments: [String], environment: [String: String] = [:], directory: String? = nil) throws -> Finished {
        let errPath = NSTemporaryDirectory() + "probity-run-stderr-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: errPath) }
        let assignments = environment.map { "\($0.key)=\($0.value)" } + ["PROBITY_TEST_STDERR=\(errPath)", "PROBITY_TEST_DIR=\(directory ?? ".")"]
        let child = try GatedChild(command: ["/usr/bin/env"] + assignments + [
            "/bin/sh", "-c", "cd \"$PROBITY_TEST_DIR\" && exec \"$0\" \"$@\" >/dev/null 2>\"$PROBITY_TEST_STDERR\"",
            try Kernel.probityBinary().path,
        ] + arguments)
        child.release()
        let status = GatedChild.exitCode(fromWaitStatus: child.wait())
        let data = FileManager.default.contents(atPath: errPath) ?? Data()
        return Finished(status: status, stderr: String(decoding: data, as: UTF8.self))
    }

    /// violations.json of a report directory: the document and its violations.
    static func violations(_ report: String) throws -> (document: [String: Any], list: [[String: Any]]) {
        let data = try Data(contentsOf: URL(fileURLWithPath: report + "/violations.json"))
        let document = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        return (document, try XCTUnwrap(document["violations"] as? [[String: Any]]))
    }
}

/// A test host in a network namespace of its own, joined to this machine by a veth pair: the
/// only address off loopback a test may talk to. `address` is the host's; `local` is ours.
final class TestHost {
    let namespace: String
    let link: String
    let address: String
    let local: String
    private var servers: [GatedChild] = []

    /// Creates the namespace and the link; `subnet` is the third octet of 10.209.X.0/24.
    init(subnet: Int) throws {
        let tag = String(UInt32.random(in: 0x10_0000...0xFF_FFFF), radix: 16)
        namespace = "probity-host-\(getpid())-\(tag)"
        link = "ph\(tag)"
        address = "10.209.\(subnet).2"
        local = "10.209.\(subnet).1"
        do {
            try Self.ip("netns", "add", namespace)
            try Self.ip("link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", namespace)
            try Self.ip("addr", "add", local + "/24", "dev", link)
            try Self.ip("link", "set", link, "up")
            try Self.ip("-n", namespace, "addr", "add", address + "/24", "dev", "eth0")
            try Self.ip("-n", namespace, "link", "set", "eth0", "up")
            try Self.ip("-n", namespace, "link", "set", "lo", "up")
        } catch {
            close()
            throw error
        }
    }

    /// Serves `directory` over HTTP on `port` inside the namespace until `close`.
    func serveHTTP(_ directory: String, port: Int) throws {
        let server = try GatedChild(command: ["/bin/sh", "-c", "exec \"$0\" \"$@\" >/dev/null 2>&1", "/usr/sbin/ip", "netns", "exec", namespace,
                                              "python3", "-m", "http.server", String(port), "--bind", address, "--directory", directory])
        server.release()
        servers.append(server)
        // Wait until it answers (bounded).
        for _ in 0..<50 {
            if (try? Kernel.output("/usr/sbin/ip", ["netns", "exec", namespace, "python3", "-c",
                "import socket; socket.create_connection(('\(address)', \(port)), timeout=0.2)"]))?.status == 0 { return }
            usleep(100_000)
        }
    }

    func close() {
        for server in servers { kill(server.pid, SIGKILL); _ = server.wait() }
        servers = []
        if let pids = try? Kernel.output("/usr/sbin/ip", ["netns", "pids", namespace]).text {
            for pid in pids.split(separator: "\n").compactMap({ Int32($0) }) { kill(pid, SIGKILL) }
        }
        _ = try? Kernel.output("/usr/sbin/ip", ["link", "del", link], mergeErrors: true)
        _ = try? Kernel.output("/usr/sbin/ip", ["netns", "del", namespace], mergeErrors: true)
    }

    private static func ip(_ arguments: String...) throws {
        let (status, text) = try Kernel.output("/usr/sbin/ip", arguments, mergeErrors: true)
        guard status == 0 else { throw SetupError(text: "ip \(arguments.joined(separator: " ")): \(text)") }
    }

    struct SetupError: Error, CustomStringConvertible {
        var text: String
        var description: String { text }
    }
}
