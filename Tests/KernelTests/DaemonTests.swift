#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbityDaemon
import ProbityMonitor
import XCTest

/// probityd as a real process on the real kernel, with the test playing systemd's part (a
/// datagram socket in NOTIFY_SOCKET, signals) and clients on the control socket.
final class DaemonTests: XCTestCase {
    /// One daemon under test, in its own directory.
    final class RunningDaemon {
        let dir: String
        let socket: String
        let home: String
        let notify: Int32
        let notifyPath: String
        var child: GatedChild?
        private var notifications: [String] = []
        /// A command that starts the daemon (its path and arguments follow), such as `setpriv ...`.
        private let launcher: [String]

        /// `socket` is the control socket's path below the daemon's directory.
        init(policies: [String] = ["builtin"], extra: String = "", socket socketName: String = "probity.sock",
             launcher: [String] = [], prepare: (String) throws -> Void = { _ in }) throws {
            self.launcher = launcher
            dir = try Kernel.temporaryDirectory()
            try prepare(dir)
            chmod(dir, 0o755)  // other users reach the socket (and are refused by probityd itself)
            socket = dir + "/" + socketName
            home = dir + "/home"
            notifyPath = dir + "/notify"
            try FileManager.default.createDirectory(atPath: home + "/.ssh", withIntermediateDirectories: true)
            // `{dir}` in `extra` is the daemon's directory.
            let config = "socket: \(socket)\nstate-directory: \(dir)/state\npolicies: [\(policies.map { "\"\($0)\"" }.joined(separator: ", "))]\n"
                + extra.replacingOccurrences(of: "{dir}", with: dir)
            try config.write(toFile: dir + "/config.yaml", atomically: true, encoding: .utf8)
            notify = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, b) in notifyPath.utf8.enumerated() { raw[i] = b } }
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(notify, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
            _ = setsockopt(notify, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            try start()
        }

        func start() throws {
            notifications.removeAll()
            let daemon = try Kernel.probityBinary().deletingLastPathComponent().appendingPathComponent("probityd").path
            let child = try GatedChild(command: [
                "/usr/bin/env", "NOTIFY_SOCKET=\(notifyPath)", "WATCHDOG_USEC=400000", "HOME=\(home)",
                "/bin/sh", "-c", "cd \(dir) && exec \"$0\" \"$@\" 2>>\(dir)/daemon.log"] + launcher + [daemon, "--config", dir + "/config.yaml",
            ])
            child.release()
            self.child = child
        }

        /// Waits for a notification containing `text`.
        func waitFor(_ text: String, seconds: Double = 30) -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if notifications.contains(where: { $0.contains(text) }) { return true }
                var buffer = [UInt8](repeating: 0, count: 4096)
                let n = buffer.withUnsafeMutableBytes { recv(notify, $0.baseAddress, $0.count, 0) }
                if n > 0 { notifications.append(String(decoding: buffer[0..<n], as: UTF8.self)) }
            }
            return false
        }

        var log: String { (try? String(contentsOfFile: dir + "/daemon.log", encoding: .utf8)) ?? "" }

        func client() throws -> ControlClient {
            let c = try ControlClient(path: socket)
            c.setReadTimeout(seconds: 10)
            return c
        }

        /// Sends a signal and waits for the exit status.
        func stop(_ signal: Int32 = SIGTERM) -> Int32 {
            guard let child else { return -1 }
            kill(child.pid, signal)
            let status = GatedChild.exitCode(fromWaitStatus: child.wait())
            self.child = nil
            return status
        }

        deinit {
            if let child { kill(child.pid, SIGKILL); child.wait() }
            close(notify)
            try? FileManager.default.removeItem(atPath: dir)
        }
    }

    /// Runs python3 code as unattributed code (judged by the built-in default contract).
    private func python(_ code: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", code]
        try p.run()
        p.waitUntilExit()
    }

    func testReadyWatchdogAndAViolationStoredBeforeItIsFollowed() throws {
        let daemon = try RunningDaemon()
        XCTAssertTrue(daemon.waitFor("READY=1"), "READY=1 reached NOTIFY_SOCKET:\n\(daemon.log)")
        XCTAssertTrue(daemon.waitFor("WATCHDOG=1", seconds: 5), "WATCHDOG=1 under WATCHDOG_USEC")
        let status = try daemon.client().request(["request": "status"])
        XCTAssertEqual(status["ok"] as? Bool, true, "\(status)")
        let hooks = try XCTUnwrap(status["hooks"] as? [[String: Any]])
        XCTAssertGreaterThan(hooks.filter { $0["state"] as? String == "attached" }.count, 10)

        let follower = try daemon.client()
        XCTAssertEqual(try follower.request(["request": "follow"])["ok"] as? Bool, true)
        let key = daemon.home + "/.ssh/id_rsa"
        try "key".write(toFile: key, atomically: true, encoding: .utf8)
        try python("open('\(key)').read()")
        // The test's own writes into ~/.ssh are judged too (the whole host is watched): skip them.
        var violation: [String: Any] = [:]
        for _ in 0..<20 {
            let line = try XCTUnwrap(try follower.readObject(), "the follower heard of it")
            violation = line["violation"] as? [String: Any] ?? [:]
            if (violation["evidence"] as? [String: Any])?["path"] as? String == key { break }
        }
        XCTAssertEqual(violation["rule"] as? String, "credential-read")
        XCTAssertEqual((violation["evidence"] as? [String: Any])?["path"] as? String, key)
        let stored = try daemon.client().request(["request": "violations", "since": "1h", "rule": "credential-read"])
        let list = try XCTUnwrap(stored["violations"] as? [[String: Any]], "\(stored)")
        XCTAssertTrue(list.contains { ($0["evidence"] as? [String: Any])?["path"] as? String == key }, "\(list)")
        XCTAssertEqual(daemon.stop(), 0, "SIGTERM drains and exits 0:\n\(daemon.log)")
        XCTAssertTrue(daemon.waitFor("STOPPING=1", seconds: 2))
    }

    func testOtherUsersAreRefusedAndBadRequestsHurtNoOne() throws {
        let daemon = try RunningDaemon()
        XCTAssertTrue(daemon.waitFor("READY=1"), daemon.log)
        chmod(daemon.socket, 0o666)  // let the kernel pass the connect: probityd itself must refuse
        let refusal = try Kernel.output("/bin/sh", [
            "-c", "echo '{\"request\":\"status\"}' | setpriv --reuid=65534 --regid=65534 --clear-groups socat - UNIX-CONNECT:\(daemon.socket)",
        ]).text
        XCTAssertTrue(refusal.contains("permission denied: uid 65534"), refusal)

        let patient = try daemon.client()  // a well-behaved client, before and after the bad ones
        XCTAssertEqual(try patient.request(["request": "status"])["ok"] as? Bool, true)
        let bad = try daemon.client()
        try bad.send(["x": 1])
        XCTAssertTrue((try bad.readObject()?["error"] as? String ?? "").contains("missing \"request\""))
        try bad.send(["request": "frobnicate"])
        XCTAssertTrue((try bad.readObject()?["error"] as? String ?? "").contains("unknown request `frobnicate`"))
        // Not JSON, then a 10 MiB line: an error, then the connection is cut.
        let answers = try Kernel.output("/bin/sh", [
            "-c", "{ echo 'not json'; head -c 10485760 /dev/zero | tr '\\\\0' x; echo; } | socat -t 5 - UNIX-CONNECT:\(daemon.socket)",
        ]).text
        XCTAssertTrue(answers.contains("not a JSON object"), answers)
        XCTAssertTrue(answers.contains("request too long"), answers)
        // A client that asks and never reads does not block the others, and is cut off once 8 MiB
        // wait for it (150,000 failed opens: some 25 MB of event lines).
        let stalled = try daemon.client()
        try stalled.send(["request": "follow", "what": ["events"]])
        usleep(200_000)
        func opens() throws -> Int { ((try patient.request(["request": "status"])["events"] as? [String: Any])?["open"] as? Int) ?? 0 }
        let before = try opens()
        try python("for i in range(150000):\n    try: open('/nonexistent-probity/%d' % i)\n    except OSError: pass")
        // The patient client is served all along; wait until the daemon has published the burst.
        for _ in 0..<300 where try opens() < before + 150_000 { usleep(100_000) }
        var sawCutOff = false
        var lines = 0
        while !sawCutOff, let line = try? stalled.readObject() {
            lines += 1
            if (line["error"] as? String ?? "").contains("cut off") { sawCutOff = true }
        }
        XCTAssertGreaterThan(lines, 10, "the follower had been receiving events (what the socket held) before the cut")
        XCTAssertTrue(sawCutOff, "the stalled follower was told it was cut off, then disconnected (\(lines) lines read)")
        XCTAssertEqual(try daemon.client().request(["request": "packages"])["ok"] as? Bool, true)
        XCTAssertEqual(daemon.stop(), 0, daemon.log)
    }

    /// Retention per user on the real kernel: uid 40001 reads a key; uid 40002 then writes 400
    /// uniquely named files into ~/.config/autostart (400 persistence violations, none folded)
    /// against `retention-rows: 40`. The first user's violation stays; the flood keeps its newest
    /// 40. The daemon's working directory holds a node_modules linked to `/`: never read.
    func testOneUsersFloodLeavesAnotherUsersViolation() throws {
        let daemon = try RunningDaemon(extra: "retention-rows: 40\nretention-total-rows: 100000\n") { dir in
            try FileManager.default.createDirectory(atPath: dir + "/node_modules", withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: dir + "/node_modules/x", withDestinationPath: "/")
        }
        XCTAssertTrue(daemon.waitFor("READY=1"), daemon.log)
        XCTAssertFalse(daemon.log.contains("node_modules"), "the working directory is not discovered:\n\(daemon.log)")
        func asUser(_ uid: Int, _ code: String) throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            p.arguments = ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "/usr/bin/python3", "-c", code]
            try p.run()
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0, "uid \(uid): \(code)")
        }
        func stored() throws -> [[String: Any]] {
            let answer = try daemon.client().request(["request": "violations", "since": "1h", "limit": 10_000])
            return try XCTUnwrap(answer["violations"] as? [[String: Any]], "\(answer)")
        }
        func path(_ v: [String: Any]) -> String? { (v["evidence"] as? [String: Any])?["path"] as? String }
        func waitUntil(_ what: String, _ condition: ([[String: Any]]) -> Bool) throws -> [[String: Any]] {
            let deadline = Date().addingTimeInterval(60)
            var list = try stored()
            while !condition(list) && Date() < deadline {
                usleep(200_000)
                list = try stored()
            }
            XCTAssertTrue(condition(list), what)
            return list
        }

        chmod(daemon.home, 0o755)
        chmod(daemon.home + "/.ssh", 0o755)
        let key = daemon.home + "/.ssh/id_ed25519"
        try "key".write(toFile: key, atomically: true, encoding: .utf8)
        chmod(key, 0o644)
        try asUser(40001, "open('\(key)').read()")
        _ = try waitUntil("uid 40001's credential read is stored") { list in
            list.contains { path($0) == key && ($0["uid"] as? Int) == 40001 }
        }

        let autostart = daemon.home + "/.config/autostart"
        try FileManager.default.createDirectory(atPath: autostart, withIntermediateDirectories: true)
        chmod(daemon.home + "/.config", 0o755)
        chmod(autostart, 0o777)
        try asUser(40002, "for i in range(400): open('\(autostart)/f%03d.desktop' % i, 'w').close()")
        let list = try waitUntil("the flood's last violation is stored") { list in
            list.contains { path($0) == autostart + "/f399.desktop" }
        }
        let flood = list.filter { ($0["uid"] as? Int) == 40002 }
        XCTAssertEqual(flood.count, 40, "uid 40002 is held to retention-rows: \(flood.compactMap(path))")
        XCTAssertEqual(flood.compactMap(path).filter { $0.hasPrefix(autostart) }.sorted(),
                       (360..<400).map { String(format: "\(autostart)/f%03d.desktop", $0) }, "its newest 40")
        XCTAssertTrue(list.contains { path($0) == key && ($0["uid"] as? Int) == 40001 }, "uid 40001's violation remains")
        XCTAssertEqual(daemon.stop(), 0, daemon.log)
    }

    func testReloadWithABrokenContractKeepsTheOldOne() throws {
        let policy = NSTemporaryDirectory() + "probity-team-\(getpid()).yaml"
        defer { unlink(policy) }
        let good = "contracts:\n  - name: team\n    match: default\n    rules:\n      - id: keys\n        secrets: {credentials: deny}\n"
        try good.write(toFile: policy, atomically: true, encoding: .utf8)
        let daemon = try RunningDaemon(policies: [policy])
        XCTAssertTrue(daemon.waitFor("READY=1"), daemon.log)
        try (good + "      - id: broken\n        netwerk: none\n").write(toFile: policy, atomically: true, encoding: .utf8)
        let refused = try daemon.client().request(["request": "reload"])
        XCTAssertEqual(refused["ok"] as? Bool, false)
        XCTAssertTrue((refused["error"] as? String ?? "").hasPrefix("\(policy):8:9: unknown key `netwerk`"), "\(refused)")
        let status = try daemon.client().request(["request": "status"])
        XCTAssertEqual((status["contracts"] as? [String: Any])?["generation"] as? Int, 1, "the old set stays")
        // The CLI is a client too.
        let (cliStatus, shown) = try Kernel.output(try Kernel.probityBinary().path, ["status", "--socket", daemon.socket])
        XCTAssertEqual(cliStatus, 0)
        XCTAssertTrue(shown.contains("generation 1") && shown.contains("hooks:"), shown)
        // The old contract still judges.
        let follower = try daemon.client()
        _ = try follower.request(["request": "follow"])
        try "k".write(toFile: daemon.home + "/.ssh/id_ed25519", atomically: true, encoding: .utf8)
        try python("open('\(daemon.home)/.ssh/id_ed25519').read()")
        var judged: [String: Any] = [:]
        for _ in 0..<20 {
            judged = try follower.readObject()?["violation"] as? [String: Any] ?? [:]
            if ((judged["evidence"] as? [String: Any])?["path"] as? String ?? "").hasSuffix("/id_ed25519") { break }
        }
        XCTAssertEqual(judged["contract"] as? String, "team", "\(judged)")
        // SIGHUP reloads a fixed file.
        try good.write(toFile: policy, atomically: true, encoding: .utf8)
        kill(daemon.child?.pid ?? 0, SIGHUP)
        var generation = 1
        for _ in 0..<50 where generation == 1 {
            usleep(100_000)
            generation = (try daemon.client().request(["request": "status"])["contracts"] as? [String: Any])?["generation"] as? Int ?? 1
        }
        XCTAssertEqual(generation, 2, daemon.log)
        XCTAssertEqual(daemon.stop(), 0)
    }

    /// kill -9 during a burst, then a restart: every violation a follower saw is in the store.
    func testKillDuringABurstLosesNothingAFollowerSaw() throws {
        let daemon = try RunningDaemon()
        XCTAssertTrue(daemon.waitFor("READY=1"), daemon.log)
        let follower = try daemon.client()
        _ = try follower.request(["request": "follow"])
        for i in 0..<300 { try "k".write(toFile: "\(daemon.home)/.ssh/key\(i)", atomically: false, encoding: .utf8) }
        let reader = Process()
        reader.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        reader.arguments = ["python3", "-c", "import time\nfor i in range(300):\n    open('\(daemon.home)/.ssh/key%d' % i).read(); time.sleep(0.002)"]
        try reader.run()
        var seen: Set<String> = []
        while seen.count < 120, let line = try? follower.readObject(), let v = line["violation"] as? [String: Any] {
            if let path = (v["evidence"] as? [String: Any])?["path"] as? String, path.contains("/.ssh/key") { seen.insert(path) }
        }
        XCTAssertEqual(daemon.stop(SIGKILL), 128 + SIGKILL)
        reader.waitUntilExit()
        XCTAssertGreaterThanOrEqual(seen.count, 120, "the follower heard a good part of the burst")
        try daemon.start()
        XCTAssertTrue(daemon.waitFor("READY=1"), daemon.log)
        let stored = try daemon.client().request(["request": "violations", "limit": 10000])
        let paths = Set((stored["violations"] as? [[String: Any]] ?? []).compactMap { ($0["evidence"] as? [String: Any])?["path"] as? String })
        XCTAssertTrue(seen.isSubset(of: paths), "missing after restart: \(seen.subtracting(paths).sorted().prefix(5))")
        XCTAssertEqual(daemon.stop(), 0)
    }
}

extension DaemonTests {
    /// Prometheus text through the control socket and over HTTP; violations also go to a
    /// size-rotated JSON-lines file, which a reader following it by inode (as Vector, Fluent Bit
    /// and the OpenTelemetry Collector's filelog receiver do) reads whole: nothing lost, nothing
    /// twice; and to journald's socket with structured fields.
    func testMetricsAndFleetExport() throws {
        let port = 20_000 + Int(getpid() % 20_000)
        let journalPath = NSTemporaryDirectory() + "probity-journal-\(getpid())"
        unlink(journalPath)
        let journal = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, b) in journalPath.utf8.enumerated() { raw[i] = b } }
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(journal, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        defer { close(journal); unlink(journalPath) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        _ = setsockopt(journal, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))

        let daemon = try RunningDaemon(extra: """
            metrics-address: "127.0.0.1:\(port)"
            export-max-bytes: 65536
            export-keep: 1000
            journal-socket: \(journalPath)

            """)
        XCTAssertTrue(daemon.waitFor("READY=1"), daemon.log)
        let exportPath = daemon.dir + "/state/violations.jsonl"
        let shipper = FollowingReader(path: exportPath)
        shipper.start()

        let count = 150
        for i in 0..<count { try "k".write(toFile: "\(daemon.home)/.ssh/burst\(i)", atomically: false, encoding: .utf8) }
        try python("import time\nfor i in range(\(count)):\n    open('\(daemon.home)/.ssh/burst%d' % i).read(); time.sleep(0.001)")
        // Wait until the store has them all.
        var stored: Set<String> = []
        for _ in 0..<100 where stored.count < count {
            usleep(100_000)
            let answer: [String: Any]
            do {
                answer = try daemon.client().request(["request": "violations", "limit": 10000])
            } catch {
                return XCTFail("\(error)\n\(daemon.log)")
            }
            stored = Set((answer["violations"] as? [[String: Any]] ?? []).compactMap {
                ($0["evidence"] as? [String: Any])?["path"] as? String
            }.filter { $0.contains("/.ssh/burst") })
        }
        XCTAssertEqual(stored.count, count, daemon.log)

        // Journald got structured entries.
        // (The whole host is watched: entries about other processes may come first.)
        var entry = ""
        for _ in 0..<500 {
            var buffer = [UInt8](repeating: 0, count: 65536)
            let n = buffer.withUnsafeMutableBytes { recv(journal, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            entry = String(decoding: buffer[0..<n], as: UTF8.self)
            if entry.contains("/.ssh/burst") { break }
        }
        XCTAssertTrue(entry.contains("PROBITY_RULE=default/credential-read"), entry)
        XCTAssertTrue(entry.contains("SYSLOG_IDENTIFIER=probityd"), entry)

        // Metrics, both ways.
        let metrics = try daemon.client().request(["request": "metrics"])["metrics"] as? String ?? ""
        XCTAssertTrue(metrics.contains("probity_events_total{kind=\"open\"}"), metrics)
        XCTAssertTrue(metrics.contains("probity_violations_total{severity=\"critical\"}"), metrics)
        XCTAssertTrue(metrics.contains("probity_evaluation_duration_seconds_bucket"), metrics)
        let scraped = try Kernel.output("/usr/bin/env", [
            "python3", "-c", "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:\(port)/metrics').read().decode())",
        ]).text
        XCTAssertTrue(scraped.contains("probity_lost_events_total"), scraped)

        XCTAssertEqual(daemon.stop(), 0)
        let lines = shipper.finish()
        let exported = lines.compactMap { line -> String? in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let path = ((object["violation"] as? [String: Any])?["evidence"] as? [String: Any])?["path"] as? String,
                  path.contains("/.ssh/burst") else { return nil }
            return path
        }
        XCTAssertEqual(exported.count, count, "each exactly once (duplicates: \(exported.count - Set(exported).count))")
        XCTAssertEqual(Set(exported), stored)
        let rotated = (try? FileManager.default.contentsOfDirectory(atPath: daemon.dir + "/state"))?.filter { $0.hasPrefix("violations.jsonl.") } ?? []
        XCTAssertGreaterThan(rotated.count, 3, "the export file rotated")
    }
}

extension DaemonTests {
    /// Followers, the `events` answer and the fleet export carry events in the one schema of
    /// docs/events.md, as `probity trace --json` writes them: the kernel's path with the string
    /// the caller passed as `requested_path`, `tid`, `syscall`, `exe` as the executable.
    func testEventsHaveOneSchemaEverywhere() throws {
        let daemon = try RunningDaemon(extra: "export-events: true\n")
        XCTAssertTrue(daemon.waitFor("READY=1"), daemon.log)
        let follower = try daemon.client()
        XCTAssertEqual(try follower.request(["request": "follow", "what": ["events"], "kind": "open"])["ok"] as? Bool, true)
        let file = daemon.dir + "/schema-probe"
        let requested = daemon.dir + "//./schema-probe"
        try python("open('\(requested)', 'w').write('x')")
        var followed: [String: Any] = [:]
        for _ in 0..<100_000 {
            guard let line = try follower.readObject() else { break }
            let event = line["event"] as? [String: Any] ?? [:]
            if event["path"] as? String == file { followed = event; break }
        }
        XCTAssertEqual(followed["requested_path"] as? String, requested, "\(followed)")
        XCTAssertEqual(followed["syscall"] as? String, "openat", "\(followed)")
        XCTAssertNotNil(followed["tid"] as? Int, "\(followed)")
        XCTAssertEqual(followed["flags"] as? [String], ["write", "create", "truncate"], "\(followed)")
        let python3 = try Kernel.output("/usr/bin/env", ["python3", "-c", "import os, sys; print(os.path.realpath(sys.executable))"])
            .text.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(followed["exe"] as? String, python3, "exe is the process's executable, as in trace")

        let recent = try daemon.client().request(["request": "events", "limit": 10_000])["events"] as? [[String: Any]] ?? []
        let kept = try XCTUnwrap(recent.last { $0["path"] as? String == file && $0["kind"] as? String == "open" }, "the events answer has it")
        XCTAssertEqual(NSDictionary(dictionary: kept), NSDictionary(dictionary: followed), "the same object in both")
        XCTAssertEqual(daemon.stop(), 0)
        let exported = try String(contentsOfFile: daemon.dir + "/state/violations.jsonl", encoding: .utf8).split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["event"] as? [String: Any]
        }
        let shipped = try XCTUnwrap(exported.last { $0["path"] as? String == file && $0["kind"] as? String == "open" }, "exported")
        XCTAssertEqual(NSDictionary(dictionary: shipped), NSDictionary(dictionary: followed), "the same object in the export")
    }

    /// Watching one cgroup: a process inside it is judged, the same act outside it is not.
    func testWatchingOnlyACgroup() throws {
        let root = try XCTUnwrap(RunCgroupRoot.path, "a cgroup v2 hierarchy is mounted")
        let name = "probity-watch-\(getpid())"
        let group = root + "/" + name
        XCTAssertEqual(mkdir(group, 0o755), 0, "create \(group)")
        defer { rmdir(group) }
        let daemon = try RunningDaemon(extra: "cgroups: [\"/\(name)\"]\n")
        XCTAssertTrue(daemon.waitFor("READY=1"), daemon.log)
        let status = try daemon.client().request(["request": "status"])
        XCTAssertEqual((status["watching"] as? [String: Any])?["cgroup_ids"] as? Int, 1, "\(status["watching"] ?? "")")
        try "k".write(toFile: daemon.home + "/.ssh/inside", atomically: true, encoding: .utf8)
        try "k".write(toFile: daemon.home + "/.ssh/outside", atomically: true, encoding: .utf8)
        let follower = try daemon.client()
        _ = try follower.request(["request": "follow"])
        try python("open('\(daemon.home)/.ssh/outside').read()")
        let inside = Process()
        inside.executableURL = URL(fileURLWithPath: "/bin/sh")
        inside.arguments = ["-c", "echo $$ > \(group)/cgroup.procs && exec python3 -c \"open('\(daemon.home)/.ssh/inside').read()\""]
        try inside.run()
        inside.waitUntilExit()
        let v = try XCTUnwrap(try follower.readObject()?["violation"] as? [String: Any])
        XCTAssertEqual((v["evidence"] as? [String: Any])?["path"] as? String, daemon.home + "/.ssh/inside", "the first violation is the one inside")
        let stored = try daemon.client().request(["request": "violations"])
        let paths = (stored["violations"] as? [[String: Any]] ?? []).compactMap { ($0["evidence"] as? [String: Any])?["path"] as? String }
        XCTAssertFalse(paths.contains(daemon.home + "/.ssh/outside"), "\(paths)")
        XCTAssertEqual(daemon.stop(), 0)
    }

    /// `load-sbom` while running: a script the SBOM lists is attributed to its component from then on.
    func testLoadSBOMWhileRunning() throws {
        let daemon = try RunningDaemon(extra: "sbom-directories: [\"{dir}\"]\n")
        XCTAssertTrue(daemon.waitFor("READY=1"), daemon.log)
        let script = daemon.dir + "/tool.sh"
        try "cat \(daemon.home)/.ssh/sbom-key >/dev/null\n".write(toFile: script, atomically: true, encoding: .utf8)
        try "k".write(toFile: daemon.home + "/.ssh/sbom-key", atomically: true, encoding: .utf8)
        let sbom = daemon.dir + "/sbom.json"
        try """
            {"bomFormat":"CycloneDX","specVersion":"1.5","version":1,"components":[
              {"type":"library","bom-ref":"t","name":"sbom-tool","version":"3.1.4","purl":"pkg:generic/sbom-tool@3.1.4",
               "evidence":{"occurrences":[{"location":"\(script)"}]}}]}
            """.write(toFile: sbom, atomically: true, encoding: .utf8)
        let bad = try daemon.client().request(["request": "load-sbom", "path": daemon.dir + "/missing.json"])
        XCTAssertEqual(bad["ok"] as? Bool, false)
        XCTAssertTrue((bad["error"] as? String ?? "").contains("missing.json"), "\(bad)")
        let loaded = try daemon.client().request(["request": "load-sbom", "path": sbom])
        XCTAssertEqual(loaded["ok"] as? Bool, true, "\(loaded)")
        XCTAssertEqual(loaded["components"] as? Int, 1)
        let whose = try daemon.client().request(["request": "whose", "paths": [script]])
        XCTAssertEqual((whose["owners"] as? [[String: Any]])?.first?["package"] as? String, "sbom-tool", "\(whose)")
        let follower = try daemon.client()
        _ = try follower.request(["request": "follow", "package": "sbom-tool"])
        usleep(100_000)
        let run = Process()
        run.executableURL = URL(fileURLWithPath: "/bin/sh")
        run.arguments = [script]
        try run.run()
        run.waitUntilExit()
        let v = try XCTUnwrap(try follower.readObject()?["violation"] as? [String: Any], "the script's read was charged to the SBOM's component")
        XCTAssertEqual((v["package"] as? [String: Any])?["version"] as? String, "3.1.4")
        XCTAssertEqual(v["rule"] as? String, "credential-read")
        let status = try daemon.client().request(["request": "status"])
        XCTAssertEqual(status["sboms"] as? [String], [sbom])
        // Reload reads the SBOMs again: a broken one refuses the whole reload.
        try "{\"bomFormat\":\"CycloneDX\",".write(toFile: sbom, atomically: true, encoding: .utf8)
        let refused = try daemon.client().request(["request": "reload"])
        XCTAssertEqual(refused["ok"] as? Bool, false)
        XCTAssertTrue((refused["error"] as? String ?? "").hasPrefix(sbom), "\(refused)")
        let still = try daemon.client().request(["request": "whose", "paths": [script]])
        XCTAssertEqual((still["owners"] as? [[String: Any]])?.first?["package"] as? String, "sbom-tool", "the old index stays")
        XCTAssertEqual(daemon.stop(), 0)
    }

    /// Re-validation: a module of a pip package modified on disk is an `integrity` violation when it
    /// is next loaded; a binary dropped into a package's directory, when it runs; a `.pth` file
    /// written by something other than the installers, when it is written.
    func testModifiedPackageFilesAreIntegrityViolations() throws {
        // A venv under a configured package root (the daemon never reads its working directory):
        // pip's RECORD has sha256 digests.
        let daemon = try RunningDaemon(extra: "package-roots: [{dir}]\n") { dir in
            let venv = Process()
            venv.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            venv.arguments = ["python3", "-m", "venv", dir + "/venv"]
            try venv.run()
            venv.waitUntilExit()
        }
        XCTAssertTrue(daemon.waitFor("READY=1"), daemon.log)
        let status = try daemon.client().request(["request": "status"])
        XCTAssertGreaterThan((status["revalidation"] as? [String: Any])?["digests"] as? Int ?? 0, 1000, "\(status["revalidation"] ?? "")")
        let lib = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: daemon.dir + "/venv/lib").first { $0.hasPrefix("python3") })
        let site = "\(daemon.dir)/venv/lib/\(lib)/site-packages"
        let follower = try daemon.client()
        _ = try follower.request(["request": "follow"])

        // An untouched module: no finding. Then the same module, modified.
        try python("import subprocess; subprocess.run(['\(daemon.dir)/venv/bin/python', '-c', 'import pip'])")
        let module = site + "/pip/__init__.py"
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: module))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("\n# tampered\n".utf8))
        try handle.close()
        try python("import subprocess; subprocess.run(['\(daemon.dir)/venv/bin/python', '-c', 'import pip'])")
        // A listed executable modified, then run: venv/bin/pip-style scripts are in RECORD.
        let script = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: daemon.dir + "/venv/bin").first { $0.hasPrefix("pip3") })
        let scriptPath = daemon.dir + "/venv/bin/" + script
        let scriptHandle = try XCTUnwrap(FileHandle(forWritingAtPath: scriptPath))
        try scriptHandle.seekToEnd()
        try scriptHandle.write(contentsOf: Data("\n# tampered\n".utf8))
        try scriptHandle.close()
        try python("import subprocess; subprocess.run(['\(scriptPath)', '--version'], stdout=subprocess.DEVNULL)")
        // A dropped binary, and a .pth file.
        try FileManager.default.copyItem(atPath: "/usr/bin/true", toPath: site + "/pip/dropped")
        try python("import subprocess; subprocess.run(['\(site)/pip/dropped'])")
        try python("open('\(site)/evil.pth', 'w').write('import os')")

        var found: [String: [String: Any]] = [:]
        var mismatched: Set<String> = []
        while found.count < 3 || mismatched.count < 2, let line = try? follower.readObject() {
            guard let v = line["violation"] as? [String: Any], v["category"] as? String == "integrity",
                  let path = (v["evidence"] as? [String: Any])?["path"] as? String, path.hasPrefix(daemon.dir) else { continue }
            if v["rule"] as? String == "hash-mismatch" {
                mismatched.insert(path)
                if path != module { continue }
            }
            found[v["rule"] as? String ?? ""] = v
        }
        XCTAssertEqual(mismatched, [module, scriptPath], "the modified module when loaded, the modified script when run")
        XCTAssertEqual(Set(found.keys), ["hash-mismatch", "unlisted-executable", "new-pth"], "\(found)\n\(daemon.log)")
        let mismatch = try XCTUnwrap(found["hash-mismatch"])
        XCTAssertEqual((mismatch["evidence"] as? [String: Any])?["path"] as? String, module)
        XCTAssertEqual((mismatch["package"] as? [String: Any])?["name"] as? String, "pip")
        XCTAssertTrue((mismatch["message"] as? String ?? "").contains("sha256"), "\(mismatch)")
        XCTAssertEqual(((found["unlisted-executable"]?["package"]) as? [String: Any])?["name"] as? String, "pip")
        // Only the modified file was flagged among pip's modules; unchanged files are hashed once.
        let after = try daemon.client().request(["request": "status"])["revalidation"] as? [String: Any] ?? [:]
        XCTAssertGreaterThan(after["unchanged"] as? Int ?? 0, 0, "the second import found pip's other modules unchanged: \(after)")
        XCTAssertEqual(daemon.stop(), 0)
    }

    /// 16 followers during a burst: every violation reaches every follower and the store, and the
    /// daemon's memory stays bounded.
    func testSixteenFollowersDuringABurst() throws {
        let daemon = try RunningDaemon()
        XCTAssertTrue(daemon.waitFor("READY=1"), daemon.log)
        let count = 400
        for i in 0..<count { try "k".write(toFile: "\(daemon.home)/.ssh/fan\(i)", atomically: false, encoding: .utf8) }
        let followers = try (0..<16).map { _ in try daemon.client() }
        for f in followers { XCTAssertEqual(try f.request(["request": "follow"])["ok"] as? Bool, true) }
        final class Seen: @unchecked Sendable {
            let lock = NSLock()
            var sets = [Set<String>](repeating: [], count: 16)
        }
        let collected = Seen()
        let group = DispatchGroup()
        for (i, follower) in followers.enumerated() {
            group.enter()
            Thread.detachNewThread {
                var mine: Set<String> = []
                while mine.count < count, let line = try? follower.readObject() {
                    if let path = ((line["violation"] as? [String: Any])?["evidence"] as? [String: Any])?["path"] as? String,
                       path.contains("/.ssh/fan") { mine.insert(path) }
                }
                collected.lock.lock(); collected.sets[i] = mine; collected.lock.unlock()
                group.leave()
            }
        }
        let start = Date()
        try python("for i in range(\(count)):\n    open('\(daemon.home)/.ssh/fan%d' % i).read()")
        XCTAssertEqual(group.wait(timeout: .now() + 60), .success, "every follower finished")
        let seconds = Date().timeIntervalSince(start)
        collected.lock.lock()
        for (i, paths) in collected.sets.enumerated() { XCTAssertEqual(paths.count, count, "follower \(i) got every violation") }
        collected.lock.unlock()
        let stored = try daemon.client().request(["request": "violations", "limit": 10000])
        let paths = Set((stored["violations"] as? [[String: Any]] ?? []).compactMap { ($0["evidence"] as? [String: Any])?["path"] as? String })
        XCTAssertEqual(paths.filter { $0.contains("/.ssh/fan") }.count, count, "the store has them all")
        let rss = (try? String(contentsOfFile: "/proc/\(daemon.child?.pid ?? 0)/status", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("VmRSS:") }.map(String.init) ?? ""
        let kib = Int(rss.split(separator: " ").dropFirst().first ?? "") ?? 0
        XCTAssertLessThan(kib, 512 * 1024, "resident memory stays bounded: \(rss)")
        print("fan-out: \(count) violations to 16 followers and the store in \(String(format: "%.2f", seconds)) s; daemon \(rss)")
        XCTAssertEqual(daemon.stop(), 0)
    }
}

enum RunCgroupRoot {
    static var path: String? {
        guard let mounts = try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8) else { return nil }
        for line in mounts.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count >= 3 && fields[2] == "cgroup2" { return String(fields[1]) }
        }
        return nil
    }
}

/// Reads an exported file the way log shippers do (Vector's `file` source, Fluent Bit's `tail`,
/// the OpenTelemetry Collector's `filelog` with `NAME*`): every file matching the name is
/// tracked by inode, read from where it was left, and kept open until it is finished, so that a
/// rotation (a rename) between two polls loses nothing and repeats nothing.
final class FollowingReader: @unchecked Sendable {
    let path: String
    private var lines: [String] = []
    private let lock = NSLock()
    private var done = false

    init(path: String) { self.path = path }

    func start() {
        Thread.detachNewThread { [self] in
            var open: [UInt64: (fd: Int32, partial: [UInt8])] = [:]
            let directory = (path as NSString).deletingLastPathComponent
            let name = (path as NSString).lastPathComponent
            func poll() {
                let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasPrefix(name) }
                // Oldest first: NAME.N ... NAME.1, then NAME.
                let ordered = names.sorted { a, b in
                    let na = Int(a.dropFirst(name.count + 1)) ?? 0, nb = Int(b.dropFirst(name.count + 1)) ?? 0
                    return na > nb
                }
                for file in ordered {
                    var info = stat()
                    guard stat(directory + "/" + file, &info) == 0 else { continue }
                    let inode = UInt64(info.st_ino)
                    if open[inode] == nil {
                        let fd = Glibc.open(directory + "/" + file, O_RDONLY)
                        if fd < 0 { continue }
                        open[inode] = (fd, [])
                    }
                    guard var entry = open[inode] else { continue }
                    var chunk = [UInt8](repeating: 0, count: 65536)
                    while true {
                        let n = chunk.withUnsafeMutableBytes { read(entry.fd, $0.baseAddress, $0.count) }
                        if n <= 0 { break }
                        entry.partial += chunk[0..<n]
                    }
                    while let newline = entry.partial.firstIndex(of: 10) {
                        let line = String(decoding: entry.partial[..<newline], as: UTF8.self)
                        entry.partial.removeSubrange(...newline)
                        lock.lock(); lines.append(line); lock.unlock()
                    }
                    open[inode] = entry
                }
            }
            while true {
                lock.lock(); let finished = done; lock.unlock()
                poll()
                if finished { break }
                usleep(2000)
            }
            for entry in open.values { close(entry.fd) }
            lock.lock(); done = false; lock.unlock()
        }
    }

    /// Stops after a last pass; returns every line read.
    func finish() -> [String] {
        usleep(50_000)
        lock.lock(); done = true; lock.unlock()
        while true {
            usleep(10_000)
            lock.lock()
            if !done { defer { lock.unlock() }; return lines }
            lock.unlock()
        }
    }
}
