#if canImport(Glibc)
import Glibc
#endif
import Foundation
import XCTest

/// The fleet export shipped by a real collector: rsyslog's `imfile` follows probityd's rotated
/// JSON lines (as docs/fleet.md configures it) and forwards them over TCP to a second rsyslog, the
/// receiver. Every violation of a burst arrives exactly once, across several rotations and a
/// restart of the shipper in the middle of the burst.
final class FleetShippingTests: XCTestCase {
    /// An rsyslogd in the foreground with `config`; stopped (SIGTERM, waited for) by ``stop()``.
    final class Rsyslog {
        let process = Process()
        init(config: String, pidFile: String, log: String) throws {
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/rsyslogd")
            process.arguments = ["-n", "-f", config, "-i", pidFile]
            FileManager.default.createFile(atPath: log, contents: nil)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            handle.seekToEndOfFile()
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
        }
        func stop() {
            guard process.isRunning else { return }
            process.terminate()
            process.waitUntilExit()
        }
        deinit { stop() }
    }

    func testRsyslogShipsEveryViolationExactlyOnceAcrossRotationsAndARestart() throws {
        // Never skipped: `make deps` (the README's test command) installs rsyslog.
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/rsyslogd") else {
            return XCTFail("rsyslogd is missing: `make deps` installs it")
        }
        let daemon = try DaemonTests.RunningDaemon(extra: "export-max-bytes: 16384\nexport-keep: 1000\n")
        XCTAssertTrue(daemon.waitFor("READY=1"), daemon.log)
        let dir = daemon.dir, export = dir + "/state/violations.jsonl", received = dir + "/received.jsonl"
        let port = try Kernel.freePort()
        for d in ["ship", "recv"] { try FileManager.default.createDirectory(atPath: dir + "/" + d, withIntermediateDirectories: true) }
        try """
            global(workDirectory="\(dir)/recv" maxMessageSize="64k")
            module(load="imtcp")
            input(type="imtcp" port="\(port)" address="127.0.0.1")
            template(name="Raw" type="string" string="%msg%\\n")
            action(type="omfile" file="\(received)" template="Raw")

            """.write(toFile: dir + "/recv.conf", atomically: true, encoding: .utf8)
        // As docs/fleet.md configures the shipper.
        try """
            global(workDirectory="\(dir)/ship" maxMessageSize="64k")
            module(load="imfile" mode="polling" PollingInterval="1")
            input(type="imfile" File="\(export)*" Tag="probity" addMetadata="off" freshStartTail="off" persistStateInterval="1")
            template(name="Raw" type="string" string="%msg%\\n")
            action(type="omfwd" target="127.0.0.1" port="\(port)" protocol="tcp" template="Raw"
                   queue.type="LinkedList" queue.filename="probity-fwd" queue.saveOnShutdown="on" action.resumeRetryCount="-1")

            """.write(toFile: dir + "/ship.conf", atomically: true, encoding: .utf8)
        let receiver = try Rsyslog(config: dir + "/recv.conf", pidFile: dir + "/recv.pid", log: dir + "/recv.log")
        defer { receiver.stop() }
        usleep(500_000)
        var shipper = try Rsyslog(config: dir + "/ship.conf", pidFile: dir + "/ship.pid", log: dir + "/ship.log")
        defer { shipper.stop() }
        usleep(500_000)

        // 120 credential reads, one distinct path each, in two halves; the shipper is restarted
        // between them (its state file says where it was in which file).
        let count = 120
        for i in 0..<count { try "k".write(toFile: "\(daemon.home)/.ssh/ship\(i)", atomically: false, encoding: .utf8) }
        func burst(_ range: Range<Int>) throws {
            try Kernel.output("/usr/bin/env", ["python3", "-c", "import time\nfor i in range(\(range.lowerBound), \(range.upperBound)):\n    open('\(daemon.home)/.ssh/ship%d' % i).read(); time.sleep(0.005)"])
        }
        try burst(0..<(count / 2))
        shipper.stop()
        try burst((count / 2)..<count)
        shipper = try Rsyslog(config: dir + "/ship.conf", pidFile: dir + "/ship.pid", log: dir + "/ship.log")

        /// (store id, path) of each burst violation the receiver got, in arrival order.
        func shipped() -> [(id: Int, path: String)] {
            let text = (try? String(contentsOfFile: received, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").compactMap { line in
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                      let path = ((object["violation"] as? [String: Any])?["evidence"] as? [String: Any])?["path"] as? String,
                      path.contains("/.ssh/ship") else { return nil }
                return (object["id"] as? Int ?? -1, path)
            }
        }
        let deadline = Date().addingTimeInterval(30)
        while Set(shipped().map(\.path)).count < count && Date() < deadline { usleep(200_000) }
        usleep(1_000_000)  // anything sent twice would arrive by now
        let lines = shipped()
        let rotated = (try? FileManager.default.contentsOfDirectory(atPath: dir + "/state"))?.filter { $0.hasPrefix("violations.jsonl.") } ?? []
        XCTAssertGreaterThanOrEqual(rotated.count, 3, "the export rotated several times during the burst")
        let shipLog = (try? String(contentsOfFile: dir + "/ship.log", encoding: .utf8)) ?? ""
        XCTAssertEqual(Set(lines.map(\.path)).count, count, "every violation arrived (\(Set(lines.map(\.path)).count) of \(count))\n\(shipLog)")
        // Probity exports each violation once, under one id; rsyslog's imfile may read a file
        // renamed while it was down once more after its restart (docs/fleet.md): by id, once each.
        XCTAssertFalse(lines.contains { $0.id < 0 }, "every exported line has the store's id")
        var pathOfID: [Int: String] = [:], idOfPath: [String: Int] = [:]
        for line in lines {
            XCTAssertEqual(pathOfID[line.id] ?? line.path, line.path, "one id, one violation")
            XCTAssertEqual(idOfPath[line.path] ?? line.id, line.id, "\(line.path) exported once, under one id")
            pathOfID[line.id] = line.path
            idOfPath[line.path] = line.id
        }
        XCTAssertEqual(pathOfID.count, count, "by id, each violation exactly once")
        print("fleet shipping: \(lines.count) lines received for \(count) violations (\(lines.count - count) read again by the shipper after its restart)")
        XCTAssertEqual(daemon.stop(), 0)
    }
}
