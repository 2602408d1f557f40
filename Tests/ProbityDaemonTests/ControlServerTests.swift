#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NIOCore
import ProbityDaemon
import ProbityTestSupport
import XCTest

/// A stand-in for the daemon: `status` answers who asked, `events` answers a large blob.
final class FakeService: ControlService {
    struct Pong: ControlAnswer { let ok = true; var request: String }
    struct Blob: ControlAnswer { let ok = true; var events: String }
    let blobBytes: Int
    init(blobBytes: Int = 256 << 10) { self.blobBytes = blobBytes }

    func respond(to request: ControlRequest) -> any ControlAnswer {
        switch request {
        case .events: Blob(events: String(repeating: "x", count: blobBytes))
        default: Pong(request: request.name)
        }
    }
}

/// The control server on swift-nio, in process, against clients that misbehave: each abuse gets
/// an error answer (or is cut off) and another client is answered within a second.
final class ControlServerTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        var template = Array("/tmp/probity-control-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw POSIXError(.EIO) }
        directory = String(cString: p)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    private func server(_ adjust: (inout ControlServer.Limits) -> Void = { _ in }) throws -> ControlServer {
        var limits = ControlServer.Limits()
        adjust(&limits)
        let server = ControlServer(path: directory + "/control.sock", service: FakeService(), limits: limits)
        try server.start()
        addTeardownBlock { server.stop() }
        return server
    }

    /// Another client is answered within a second.
    private func assertServed(_ server: ControlServer, file: StaticString = #filePath, line: UInt = #line) {
        let started = Date()
        guard let client = try? RawSocketClient(path: server.path) else { return XCTFail("cannot connect", file: file, line: line) }
        let answer = client.ask("{\"request\":\"status\"}", seconds: 1)
        XCTAssertEqual(answer?["ok"] as? Bool, true, "another client is served: \(String(describing: answer))", file: file, line: line)
        XCTAssertLessThan(Date().timeIntervalSince(started), 1.0, file: file, line: line)
    }

    func testBadFieldsAreAnsweredAndTheConnectionStays() throws {
        let server = try server()
        let client = try RawSocketClient(path: server.path)
        let cases: [(String, String)] = [
            ("{\"request\":\"violations\",\"since\":1733100000000}", "`since` of `violations` of 1733100000000 unix seconds is after 2100"),
            ("{\"request\":\"violations\",\"since\":\"NaN\"}", "`since` of `violations` must be a finite number"),
            ("{\"request\":\"violations\",\"since\":1e300}", "`since` of `violations` of 1e+300 unix seconds is after 2100"),
            ("{\"request\":\"violations\",\"since\":-5}", "`since` of `violations` must not be negative"),
            ("{\"request\":\"status\",\"extra\":1}", "unknown field `extra` in `status`"),
            ("not json", "not a JSON object"),
        ]
        for (request, expected) in cases {
            let answer = client.ask(request)
            XCTAssertEqual(answer?["ok"] as? Bool, false, request)
            XCTAssertTrue((answer?["error"] as? String ?? "").hasPrefix(expected), "\(request): \(String(describing: answer))")
            assertServed(server)
        }
        XCTAssertEqual(client.ask("{\"request\":\"status\"}")?["request"] as? String, "status", "the same connection still works")
        XCTAssertEqual(server.statistics.rejectedRequests, cases.count)
    }

    func testALineOverTheLimitIsAnsweredThenClosed() throws {
        let server = try server()
        let client = try RawSocketClient(path: server.path)
        let writer = Thread { client.send([UInt8](repeating: UInt8(ascii: "x"), count: 2 << 20) + [10]) }
        writer.start()
        let answer = client.line(seconds: 5).flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        XCTAssertEqual(answer?["error"] as? String, "request too long (limit 1048576 bytes per line)")
        XCTAssertTrue(client.closedByServer(within: 7), "closed after the answer")
        assertServed(server)
        XCTAssertEqual(server.statistics.tooLong, 1)
    }

    /// Many `events` requests and no reading: the server stops reading that client, keeps what
    /// waits for it bounded, and cuts it off once its output has not moved for the idle timeout.
    func testAClientThatDoesNotReadIsNotReadThenCutOff() throws {
        let server = try server { $0.idleTimeout = .seconds(2) }
        let greedy = try RawSocketClient(path: server.path)
        let request = Array("{\"request\":\"events\",\"limit\":10000}\n".utf8)
        var sent = 0
        for _ in 0..<20_000 { sent += greedy.send(request, nonBlocking: true) }
        XCTAssertLessThan(sent, 20_000 * request.count, "the server stopped reading: the client's sends no longer fit")
        var most = 0
        for _ in 0..<10 {
            usleep(100_000)
            most = max(most, server.statistics.bufferedBytes)
            assertServed(server)
        }
        XCTAssertLessThanOrEqual(most, (1 << 20) + (256 << 10) + 4096, "at most one answer beyond the read pause waits")
        XCTAssertTrue(greedy.peerClosed(within: 4), "cut off, without having read anything")
        XCTAssertEqual(server.statistics.cutOff, 1)
        // The client sees the close before the event loop has failed the writes still queued
        // for it (which is when their bytes are released): give that a moment, no more.
        for _ in 0..<100 where server.statistics.bufferedBytes != 0 { usleep(20_000) }
        XCTAssertEqual(server.statistics.bufferedBytes, 0, "what waited for the client is released")
        assertServed(server)
    }

    /// A follower that does not read is cut off once 8 MiB wait for it, and told so.
    func testAFollowerThatDoesNotReadIsCutOffAtTheCap() throws {
        let server = try server()
        let follower = try RawSocketClient(path: server.path)
        XCTAssertEqual(follower.ask("{\"request\":\"follow\",\"what\":\"events\"}")?["following"] as? [String], ["events"])
        for _ in 0..<50 where server.eventFollowers == 0 { usleep(10_000) }
        XCTAssertEqual(server.eventFollowers, 1)
        let line = Array("{\"event\":{\"kind\":\"open\",\"path\":\"\(String(repeating: "p", count: 1000))\"}}".utf8)
        for _ in 0..<20_000 { server.publish(kind: "event", line: line) { _ in true } }
        for _ in 0..<100 where server.statistics.cutOff == 0 { usleep(20_000) }
        XCTAssertEqual(server.statistics.cutOff, 1)
        XCTAssertLessThanOrEqual(server.statistics.bufferedBytes, 8 << 20)
        assertServed(server)
        var last = ""
        var lines = 0
        while let next = follower.line(seconds: 2) {
            last = next
            lines += 1
        }
        XCTAssertTrue(last.contains("cut off: more than 8388608 bytes were waiting for this client"), last)
        XCTAssertGreaterThan(lines, 100)
        XCTAssertEqual(server.eventFollowers, 0)
    }

    /// 1,000 connections that send nothing: past the limit each gets one error line and is
    /// closed; a client connected before is served all along; the idle ones are closed after the
    /// idle timeout, and then new clients are served again.
    func testAThousandIdleConnections() throws {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        if limit.rlim_cur < 4096 {
            limit.rlim_cur = min(limit.rlim_max, 4096)
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        let server = try server { $0.idleTimeout = .seconds(3) }
        let patient = try RawSocketClient(path: server.path)
        XCTAssertEqual(patient.ask("{\"request\":\"follow\"}")?["ok"] as? Bool, true, "a follower is never idle")
        let patientAsks = try RawSocketClient(path: server.path)
        var idle: [RawSocketClient] = []
        for _ in 0..<1000 { idle.append(try RawSocketClient(path: server.path)) }
        // Accepted in the order they connected: the first 254 take the places left.
        var refused = 0
        for client in idle[254...] {
            if let line = client.line(seconds: 2), line.contains("too many connections (limit 256)") { refused += 1 }
        }
        XCTAssertEqual(refused, 1000 - 254, "past the limit, each gets one error line")
        XCTAssertEqual(patientAsks.ask("{\"request\":\"status\"}", seconds: 1)?["ok"] as? Bool, true, "a connected client is still served")
        XCTAssertEqual(server.statistics.refusedAtLimit, 1000 - 254)
        XCTAssertTrue(idle[254...].allSatisfy { $0.closedByServer(within: 7) }, "refused connections are closed")
        // After the idle timeout the idle ones are told and closed.
        for client in idle[..<254] {
            let line = client.line(seconds: 6) ?? ""
            XCTAssertTrue(line.contains("closed: no request for 3 seconds"), line)
            XCTAssertTrue(client.closedByServer(within: 2))
        }
        XCTAssertGreaterThanOrEqual(server.statistics.idleClosed, 254)
        idle.removeAll()  // they close; their places are free again
        usleep(100_000)
        assertServed(server)
        XCTAssertFalse(patient.closedByServer(within: 0.2), "the follower stays")
    }

    /// Shutdown: followers get what waited for them, then the end of the stream; the socket file goes.
    func testStopEndsFollowersAndRemovesTheSocket() throws {
        let server = ControlServer(path: directory + "/control.sock", service: FakeService())
        try server.start()
        let follower = try RawSocketClient(path: server.path)
        XCTAssertEqual(follower.ask("{\"request\":\"follow\"}")?["ok"] as? Bool, true)
        for _ in 0..<50 where server.statistics.followers == 0 { usleep(10_000) }
        server.publish(kind: "violation", line: Array("{\"violation\":{}}".utf8)) { _ in true }
        server.stop()
        XCTAssertEqual(follower.line(seconds: 2), "{\"violation\":{}}")
        XCTAssertTrue(follower.closedByServer(within: 2))
        XCTAssertFalse(FileManager.default.fileExists(atPath: server.path))
    }

    /// With no descriptors left, the server waits and retries instead of spinning on accept; once
    /// descriptors are free again, the waiting clients are served.
    func testDescriptorExhaustionDoesNotSpin() throws {
        let server = try server()
        XCTAssertEqual(try RawSocketClient(path: server.path).ask("{\"request\":\"status\"}")?["ok"] as? Bool, true)
        var saved = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &saved)
        defer { var restore = saved; setrlimit(Int32(RLIMIT_NOFILE.rawValue), &restore) }
        // Fill the descriptor table (this process is client and server at once).
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 64
        var lowered = saved
        lowered.rlim_cur = rlim_t(open + 40)
        XCTAssertEqual(setrlimit(Int32(RLIMIT_NOFILE.rawValue), &lowered), 0)
        // Three sockets made before the table is full; they connect once it is.
        let waiting = [try RawSocketClient(), try RawSocketClient(), try RawSocketClient()]
        var fillers: [Int32] = []
        while true {
            let fd = dup(0)
            if fd < 0 { break }
            fillers.append(fd)
        }
        XCTAssertEqual(errno, EMFILE)
        for client in waiting { try client.connect(server.path) }
        func cpuSeconds() -> Double {
            var usage = rusage()
            getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
            return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        }
        let before = cpuSeconds()
        usleep(1_000_000)
        let used = cpuSeconds() - before
        XCTAssertLessThan(used, 0.3, "no spinning while accept fails with EMFILE (\(used) s of CPU in 1 s)")
        XCTAssertGreaterThan(server.statistics.acceptPauses, 0, "accepting paused")
        for fd in fillers { close(fd) }
        var restore = saved
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &restore)
        let started = Date()
        for client in waiting {
            XCTAssertEqual(client.ask("{\"request\":\"status\"}", seconds: 2)?["ok"] as? Bool, true, "served once descriptors are back")
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 1.0)
        assertServed(server)
    }
}
