#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbityDaemon
import ProbityTestSupport
import XCTest

/// probityd's control socket under abuse, on the real daemon with its probes: each abuse gets an
/// error answer (or the abuser is cut off) and another client is answered within a second.
final class DaemonControlTests: XCTestCase {
    typealias RunningDaemon = DaemonTests.RunningDaemon

    /// A new client is answered `status` within a second.
    private func assertServed(_ daemon: RunningDaemon, _ context: String, file: StaticString = #filePath, line: UInt = #line) {
        let started = Date()
        guard let client = try? RawSocketClient(path: daemon.socket) else { return XCTFail("cannot connect after \(context)", file: file, line: line) }
        let answer = client.ask(["request": "status"], seconds: 1)
        XCTAssertEqual(answer["ok"] as? Bool, true, "after \(context), another client is served: \(answer)\n\(daemon.log)", file: file, line: line)
        XCTAssertLessThan(Date().timeIntervalSince(started), 1.0, "after \(context)", file: file, line: line)
    }

    private func alive(_ daemon: RunningDaemon) -> Bool { daemon.child.map { kill($0.pid, 0) == 0 } ?? false }

    func testBadRequestsAreAnsweredNeverFatal() throws {
        let daemon = try RunningDaemon()
        XCTAssertTrue(daemon.waitFor("READY=1"), daemon.log)
        let client = try RawSocketClient(path: daemon.socket)
        let cases: [(String, String)] = [
            ("{\"request\":\"violations\",\"since\":1733100000000}", "`since` of `violations` of 1733100000000 unix seconds is after 2100"),
            ("{\"request\":\"violations\",\"since\":\"NaN\"}", "`since` of `violations` must be a finite number"),
            ("{\"request\":\"violations\",\"since\":1e300}", "`since` of `violations` of 1e+300 unix seconds is after 2100"),
            ("{\"request\":\"violations\",\"since\":-5}", "`since` of `violations` must not be negative"),
            ("{\"request\":\"violations\",\"since\":\"1e300d\"}", "`since` of `violations` \"1e300d\" reaches back before 1970"),
            ("{\"request\":\"violations\",\"limit\":100000}", "`limit` of `violations` must be an integer from 0 to 10000, not 100000"),
            ("{\"request\":\"status\",\"verbose\":true}", "unknown field `verbose` in `status` (it takes none)"),
            ("{\"request\":\"events\",\"limit\":\"all\"}", "`limit` of `events` must be an integer from 0 to 10000, not a string"),
        ]
        for (request, expected) in cases {
            let answer = client.ask(raw: Array((request + "\n").utf8))
            XCTAssertEqual(answer["ok"] as? Bool, false, request)
            XCTAssertTrue((answer["error"] as? String ?? "").hasPrefix(expected), "\(request): \(answer)")
            assertServed(daemon, request)
        }
        // The CLI's --since goes through the same check.
        let (status, text) = try Kernel.output(try Kernel.probityBinary().path, ["violations", "--socket", daemon.socket, "--since", "1733100000000"], mergeErrors: true)
        XCTAssertEqual(status, 1)
        XCTAssertTrue(text.contains("milliseconds by mistake"), text)
        // A 2 MiB line: an answer naming the limit, then the connection is closed.
        let long = try RawSocketClient(path: daemon.socket)
        let writer = Thread { long.send([UInt8](repeating: UInt8(ascii: "x"), count: 2 << 20) + [10]) }
        writer.start()
        let answer = long.line(seconds: 5).flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        XCTAssertEqual(answer?["error"] as? String, "request too long (limit 1048576 bytes per line)")
        XCTAssertTrue(long.closedByServer(within: 7))
        assertServed(daemon, "a 2 MiB line")
        XCTAssertTrue(alive(daemon))
        XCTAssertEqual(daemon.stop(), 0, daemon.log)
    }

    /// Unread answers, then a thousand idle connections, on a daemon whose idle timeout is 3 s.
    func testUnreadAnswersAndIdleConnectionsAreBounded() throws {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        if limit.rlim_cur < 4096 {
            limit.rlim_cur = min(limit.rlim_max, 4096)
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        let daemon = try RunningDaemon(extra: "control-idle-seconds: 3\n")
        XCTAssertTrue(daemon.waitFor("READY=1"), daemon.log)
        let pid = try XCTUnwrap(daemon.child?.pid)
        func rssKiB() -> Int {
            let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
            let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
            return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
        }
        // Fill the recent-events ring so that each `events` answer is large.
        try Kernel.output("/usr/bin/env", ["python3", "-c", "for i in range(20000):\n    try: open('/nonexistent-probity/%d' % i)\n    except OSError: pass"])
        let before = rssKiB()
        let greedy = try RawSocketClient(path: daemon.socket)
        let request = Array("{\"request\":\"events\",\"limit\":10000}\n".utf8)
        var sent = 0
        for _ in 0..<5_000 { sent += greedy.send(request, nonBlocking: true) }
        XCTAssertLessThan(sent, 5_000 * request.count, "the daemon stopped reading the greedy client")
        var most = before
        for i in 0..<8 {
            usleep(250_000)
            most = max(most, rssKiB())
            assertServed(daemon, "unread answers (\(i))")
        }
        XCTAssertLessThan(most - before, 128 << 10, "memory stays bounded: \(before) KiB before, at most \(most) KiB while the client did not read")
        XCTAssertTrue(greedy.peerClosed(within: 6), "the greedy client is cut off (its output did not move for 3 s)")

        // 1,000 idle connections.
        let patient = try RawSocketClient(path: daemon.socket)
        XCTAssertEqual(patient.ask(["request": "follow"])["ok"] as? Bool, true)
        var idle: [RawSocketClient] = []
        for _ in 0..<1000 { idle.append(try RawSocketClient(path: daemon.socket)) }
        var refused = 0
        for client in idle[255...] {
            if let line = client.line(seconds: 2), line.contains("too many connections (limit 256)") { refused += 1 }
        }
        XCTAssertEqual(refused, 1000 - 255, "past 256 connections, each gets one error line")
        let asker = idle[0]
        XCTAssertEqual(asker.ask(["request": "packages"], seconds: 1)["ok"] as? Bool, true, "connected clients are still served")
        for client in idle[1..<255] {
            XCTAssertTrue((client.line(seconds: 6) ?? "").contains("closed: no request for 3 seconds"))
            XCTAssertTrue(client.closedByServer(within: 2))
        }
        idle.removeAll()  // they close; their places are free again
        usleep(100_000)
        assertServed(daemon, "1,000 idle connections")
        XCTAssertFalse(patient.closedByServer(within: 0.2), "a follower is not idle")
        XCTAssertEqual(daemon.stop(), 0, daemon.log)
    }

    /// With its descriptors used up, the daemon does not spin on accept; once they are back, the
    /// clients that waited are served.
    func testDescriptorExhaustionDoesNotSpin() throws {
        let daemon = try RunningDaemon()
        XCTAssertTrue(daemon.waitFor("READY=1"), daemon.log)
        let pid = try XCTUnwrap(daemon.child?.pid)
        let open = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count
        // util-linux's prlimit(1): glibc's prlimit(2) wrapper is a GNU extension Swift does not see.
        let original = try Kernel.output("/usr/bin/prlimit", ["--pid", "\(pid)", "--nofile", "--noheadings", "--raw", "--output", "SOFT,HARD"]).text
            .split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        XCTAssertEqual(original.count, 2, "\(original)")
        // The soft limit only: raising it back needs no privilege.
        XCTAssertEqual(try Kernel.output("/usr/bin/prlimit", ["--pid", "\(pid)", "--nofile=\(open + 8):\(original.last ?? "")"]).status, 0,
                       "lower the daemon's RLIMIT_NOFILE")
        var clients: [RawSocketClient] = []
        for _ in 0..<40 { clients.append(try RawSocketClient(path: daemon.socket)) }
        usleep(500_000)
        XCTAssertGreaterThanOrEqual(try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count, open + 7, "the table is full")
        // The event loop's own CPU time (the thread that would spin on accept).
        func loopTicks() -> Int {
            var total = 0
            for task in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? [] {
                let stat = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/stat", encoding: .utf8)) ?? ""
                guard stat.contains("(NIO-ELT"), let close = stat.lastIndex(of: ")") else { continue }
                let fields = stat[stat.index(after: close)...].split(separator: " ")
                total += (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)  // utime, stime
            }
            return total
        }
        let ticks = loopTicks()
        usleep(2_000_000)
        let used = Double(loopTicks() - ticks) / Double(sysconf(Int32(_SC_CLK_TCK)))
        XCTAssertLessThan(used, 0.2, "the control loop used \(used) s of CPU in 2 s while accept failed")
        XCTAssertTrue(alive(daemon))
        XCTAssertEqual(try Kernel.output("/usr/bin/prlimit", ["--pid", "\(pid)", "--nofile=\(original.first ?? "1024"):\(original.last ?? "1024")"]).status, 0)
        let waiting = clients.suffix(5)
        clients.removeFirst(clients.count - 5)
        let started = Date()
        for client in waiting { XCTAssertEqual(client.ask(["request": "status"], seconds: 2)["ok"] as? Bool, true, daemon.log) }
        XCTAssertLessThan(Date().timeIntervalSince(started), 1.0, "the waiting clients are served within a second")
        assertServed(daemon, "descriptor exhaustion")
        XCTAssertEqual(daemon.stop(), 0, daemon.log)
    }

    /// `load-sbom` reads only regular files in sbom-directories, without following links, and at
    /// most sbom-max-bytes; a missing SBOM on reload is a warning.
    func testLoadSBOMIsConfined() throws {
        let daemon = try RunningDaemon(extra: "sbom-directories: [\"{dir}/sboms\"]\nsbom-max-bytes: 16777216\n") { dir in
            try FileManager.default.createDirectory(atPath: dir + "/sboms", withIntermediateDirectories: true)
        }
        XCTAssertTrue(daemon.waitFor("READY=1"), daemon.log)
        let sboms = daemon.dir + "/sboms"
        XCTAssertEqual(symlink("/etc/shadow", sboms + "/shadow.json"), 0)
        XCTAssertEqual(mkfifo(sboms + "/fifo.json", 0o600), 0)
        let sparse = open(sboms + "/huge.json", O_CREAT | O_WRONLY, 0o600)
        XCTAssertEqual(ftruncate(sparse, 2 << 30), 0)
        close(sparse)
        let cases: [(String, String)] = [
            ("/etc/shadow", "/etc/shadow: is outside the sbom-directories (\(sboms))"),
            (sboms + "/shadow.json", sboms + "/shadow.json: is a symbolic link"),
            (sboms + "/fifo.json", sboms + "/fifo.json: is a FIFO, not a regular file"),
            (sboms + "/huge.json", sboms + "/huge.json: is larger than the 16777216-byte limit"),
            (sboms + "/../config.yaml", "must be an absolute path without"),
        ]
        let client = try RawSocketClient(path: daemon.socket)
        for (path, expected) in cases {
            let answer = client.ask(["request": "load-sbom", "path": path], seconds: 5)
            XCTAssertEqual(answer["ok"] as? Bool, false, path)
            XCTAssertTrue((answer["error"] as? String ?? "").contains(expected), "\(path): \(answer)")
            assertServed(daemon, "load-sbom \(path)")
        }
        // A good one, then deleted: reload warns and succeeds.
        let good = sboms + "/app.cdx.json"
        try """
            {"bomFormat":"CycloneDX","specVersion":"1.5","version":1,"components":[
              {"type":"library","bom-ref":"t","name":"gone-tool","version":"1.0","evidence":{"occurrences":[{"location":"/opt/gone/tool"}]}}]}
            """.write(toFile: good, atomically: true, encoding: .utf8)
        XCTAssertEqual(client.ask(["request": "load-sbom", "path": good])["ok"] as? Bool, true)
        unlink(good)
        let reload = client.ask(["request": "reload"], seconds: 60)
        XCTAssertEqual(reload["ok"] as? Bool, true, "\(reload)")
        let warnings = reload["warnings"] as? [String] ?? []
        XCTAssertTrue(warnings.first?.hasPrefix(good + ": does not exist") == true, "\(reload)")
        XCTAssertTrue(daemon.log.contains("reload: \(good): does not exist"), daemon.log)
        XCTAssertEqual(daemon.stop(), 0, daemon.log)
    }
}
