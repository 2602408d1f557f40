#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbityDaemon
import XCTest

/// systemd/probity.service as systemd reads it: the `KEY=value` lines of `[Service]` (comments and
/// blank lines skipped), each setting with every value it was given, in order.
struct ServiceUnit {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    let text: String
    private(set) var settings: [(key: String, value: String)] = []

    init(path: String = repository + "/systemd/probity.service") throws {
        text = try String(contentsOfFile: path, encoding: .utf8)
        var section = ""
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") { section = line; continue }
            guard section == "[Service]", let equals = line.firstIndex(of: "=") else { continue }
            settings.append((String(line[..<equals]), String(line[line.index(after: equals)...])))
        }
    }

    /// The value in force (the last one given).
    subscript(key: String) -> String? { settings.last { $0.key == key }?.value }

    /// The words of a list setting, every assignment together.
    func words(_ key: String) -> [String] {
        settings.filter { $0.key == key }.flatMap { $0.value.split(separator: " ").map(String.init) }
    }

    /// The unit with ExecStart at the built probityd (`verify` checks that the program exists),
    /// written into `dir`.
    func copy(into dir: String) throws -> String {
        let daemon = try Kernel.probityBinary().deletingLastPathComponent().appendingPathComponent("probityd").path
        let path = dir + "/probity.service"
        try text.replacingOccurrences(of: "/usr/local/bin/probityd", with: daemon).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

/// The unit file: it verifies, `systemd-analyze security` rates it at most 3.5, and it leaves
/// every feature of the daemon working (without the kernel: what can be read from the file).
final class UnitFileTests: XCTestCase {
    static let analyze = "/usr/bin/systemd-analyze"

    private func requireAnalyze() throws {
        // Never skipped: `make deps` (the README's test command) installs systemd.
        guard FileManager.default.isExecutableFile(atPath: Self.analyze) else {
            XCTFail("\(Self.analyze) is missing: install systemd (`make deps`)")
            throw POSIXError(.ENOENT)
        }
    }

    func testUnitVerifies() throws {
        try requireAnalyze()
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (status, text) = try Kernel.output(Self.analyze, ["verify", try ServiceUnit().copy(into: dir)], mergeErrors: true)
        XCTAssertEqual(status, 0, text)
        XCTAssertFalse(text.contains("probity.service"), "no complaint about the unit: \(text)")
        // The configuration file it installs is the documented defaults.
        XCTAssertEqual(try DaemonConfiguration.load(path: ServiceUnit.repository + "/systemd/config.yaml"), DaemonConfiguration())
    }

    /// `systemd-analyze security --offline=yes` (no running systemd needed) rates the unit at most 3.5.
    func testSecurityExposureIsAtMost3Point5() throws {
        try requireAnalyze()
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (status, text) = try Kernel.output(Self.analyze, ["security", "--offline=yes", try ServiceUnit().copy(into: dir)], mergeErrors: true)
        XCTAssertEqual(status, 0, text)
        let line = try XCTUnwrap(text.split(separator: "\n").first { $0.contains("Overall exposure level") }, text)
        print(line)
        let score = line.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) }
        XCTAssertLessThanOrEqual(try XCTUnwrap(score, String(line)), 3.5, text)
    }

    /// What the daemon needs of the unit, against the daemon's own defaults.
    func testTheUnitLeavesEveryFeatureWorking() throws {
        let unit = try ServiceUnit()
        let defaults = DaemonConfiguration()
        // The socket's group is the service's group, and the runtime directory is the socket's,
        // which the group may traverse and no one else may.
        XCTAssertEqual(unit["Group"], defaults.socketGroup)
        XCTAssertEqual("/run/" + (unit["RuntimeDirectory"] ?? ""), (defaults.socket as NSString).deletingLastPathComponent)
        let mode = try XCTUnwrap(unit["RuntimeDirectoryMode"].flatMap { Int($0, radix: 8) })
        XCTAssertEqual(mode & 0o010, 0o010, "the group may traverse /run/probity")
        XCTAssertEqual(mode & 0o007, 0, "others may not")
        // The host's /tmp (pip builds there), every process's /proc.
        XCTAssertFalse(["yes", "true", "on", "1"].contains(unit["PrivateTmp"]?.lowercased() ?? "no"), "PrivateTmp hides the host's /tmp")
        XCTAssertTrue([nil, "all"].contains(unit["ProcSubset"]))
        XCTAssertTrue([nil, "default"].contains(unit["ProtectProc"]))
        // The control socket, journald, sd_notify; the DNS observer's packet socket; metrics (IPv4).
        for family in ["AF_UNIX", "AF_PACKET", "AF_INET"] { XCTAssertTrue(unit.words("RestrictAddressFamilies").contains(family), family) }
        for call in ["@system-service", "bpf", "perf_event_open"] { XCTAssertTrue(unit.words("SystemCallFilter").contains(call), call) }
        // Limits: descriptors for the probes and the store (some 110) and every control client.
        let files = try XCTUnwrap(unit["LimitNOFILE"].flatMap { Int($0) })
        XCTAssertGreaterThanOrEqual(files, defaults.controlConnections + 512)
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(unit["TasksMax"].flatMap { Int($0) }), 64)
        XCTAssertNotNil(unit["MemoryMax"])
    }
}

/// probityd started as the unit starts it, which systemd cannot do here (PID 1 is not systemd):
/// the runtime directory made as RuntimeDirectory=, RuntimeDirectoryMode= and Group= say (read
/// from the unit, so that the test fails when the unit regresses), uid 0 with the unit's group and no other, only the unit's capabilities, no_new_privs, its umask. A real
/// member of the group is answered; a user outside it is refused by the kernel (EACCES); metrics
/// bind on 127.0.0.1. On the real kernel, never skipped.
final class UnitStartTests: XCTestCase {
    typealias RunningDaemon = DaemonTests.RunningDaemon

    func testTheSocketGroupIsAnsweredAndOthersAreRefused() throws {
        let unit = try ServiceUnit()
        let groupName = try XCTUnwrap(unit["Group"])
        let (added, addText) = try Kernel.output("/usr/sbin/groupadd", ["--system", groupName], mergeErrors: true)
        XCTAssertTrue(added == 0 || added == 9, "groupadd \(groupName): \(addText)")  // 9: it exists
        let gid = try XCTUnwrap(getgrnam(groupName)?.pointee.gr_gid)
        let member = try LeastPrivilegeTests.testUser("probity-member", groups: [groupName])
        let stranger = try LeastPrivilegeTests.testUser()
        XCTAssertFalse(try Kernel.output("/usr/bin/id", ["-G", stranger.name]).text.split(separator: " ").contains("\(gid)"))

        // /run/probity as systemd makes it: owned by User= (root when unset) and Group=, RuntimeDirectoryMode=.
        let runtime = "run/" + (try XCTUnwrap(unit["RuntimeDirectory"]))
        let mode = try XCTUnwrap(unit["RuntimeDirectoryMode"].flatMap { mode_t($0, radix: 8) })
        XCTAssertNil(unit["User"], "the daemon runs as root")
        let capabilities = unit.words("CapabilityBoundingSet").map { "+" + $0.dropFirst("CAP_".count).lowercased() }
        var setpriv = ["/usr/bin/setpriv", "--regid=\(gid)", "--clear-groups", "--inh-caps=-all",
                       "--bounding-set=-all," + capabilities.joined(separator: ",")]
        if unit["NoNewPrivileges"] == "yes" { setpriv.append("--no-new-privs") }
        let umask = try XCTUnwrap(unit["UMask"])
        let port = try Kernel.freePort()
        var runtimeDirectory = ""
        let daemon = try RunningDaemon(
            extra: "metrics-address: \"127.0.0.1:\(port)\"\n", socket: runtime + "/probity.sock",
            launcher: ["/bin/sh", "-c", "umask \(umask) && exec \"$0\" \"$@\""] + setpriv
        ) { dir in
            runtimeDirectory = dir + "/" + runtime
            try FileManager.default.createDirectory(atPath: runtimeDirectory, withIntermediateDirectories: true)
            chmod(dir + "/run", 0o755)
            XCTAssertEqual(chmod(runtimeDirectory, mode), 0)
            XCTAssertEqual(chown(runtimeDirectory, 0, gid), 0)
        }
        XCTAssertTrue(daemon.waitFor("READY=1"), daemon.log)
        let status = try daemon.client().request(["request": "status"])
        let hooks = try XCTUnwrap(status["hooks"] as? [[String: Any]], "\(status)")
        XCTAssertEqual(hooks.filter { $0["state"] as? String == "failed" }.count, 0, "every hook loads with the unit's capabilities: \(hooks)")
        XCTAssertGreaterThan(hooks.filter { $0["state"] as? String == "attached" }.count, 10)

        // The directory and the socket, as the group's members need them.
        var st = stat()
        XCTAssertEqual(stat(runtimeDirectory, &st), 0)
        XCTAssertEqual(st.st_mode & 0o7777, mode)
        XCTAssertEqual(st.st_gid, gid)
        XCTAssertEqual(stat(daemon.socket, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o660)
        XCTAssertEqual(st.st_uid, 0)
        XCTAssertEqual(st.st_gid, gid, "the socket is the group's (without CAP_CHOWN: the daemon's own group)")

        // A real member of the group, with the groups login gives it, is answered.
        let probity = try Kernel.probityBinary().path
        func statusAs(_ user: String) throws -> (status: Int32, text: String) {
            try Kernel.output("/usr/bin/setpriv", ["--reuid=\(user)", "--regid=\(user)", "--init-groups", probity, "status", "--socket", daemon.socket],
                              mergeErrors: true)
        }
        let answered = try statusAs(member.name)
        XCTAssertEqual(answered.status, 0, answered.text)
        XCTAssertTrue(answered.text.contains("hooks:"), answered.text)
        // Anyone else does not reach the socket: the kernel refuses the path.
        let refused = try statusAs(stranger.name)
        XCTAssertNotEqual(refused.status, 0, refused.text)
        XCTAssertTrue(refused.text.contains("Permission denied"), refused.text)

        // The metrics listener binds with the unit's capabilities.
        let scraped = try Kernel.output("/usr/bin/env", [
            "python3", "-c", "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:\(port)/metrics').read().decode())",
        ], mergeErrors: true)
        XCTAssertEqual(scraped.status, 0, scraped.text + daemon.log)
        XCTAssertTrue(scraped.text.contains("probity_events_total"), scraped.text)
        XCTAssertEqual(daemon.stop(), 0, daemon.log)
    }
}
