#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbityMonitor
import XCTest

/// `probity run` gives the command none of its privileges (issue 10): the command runs as the
/// invoking user (`SUDO_UID`, `--user`) without capabilities and with `no_new_privs`; it cannot
/// leave enforcement by leaving a cgroup, signal or trace Probity, or reach the BPF maps; a run
/// as root says so; a full followed-process map fails the gate. On the real kernel, never skipped.
final class LeastPrivilegeTests: XCTestCase {
    /// An unprivileged user for these tests (`probity-test`, in no other group), created when
    /// missing; also a member of `groups` when given.
    static func testUser(_ name: String = "probity-test", groups: [String] = []) throws -> (name: String, uid: UInt32, gid: UInt32) {
        if try Kernel.output("/usr/bin/id", ["-u", name], mergeErrors: true).status != 0 {
            let (status, text) = try Kernel.output(
                "/usr/sbin/useradd", ["--create-home", "--shell", "/bin/sh", "--user-group", name], mergeErrors: true)
            // 9: created meanwhile by another run.
            XCTAssertTrue(status == 0 || status == 9, "useradd \(name): \(text)")
        }
        if !groups.isEmpty {
            let (status, text) = try Kernel.output("/usr/sbin/usermod", ["--append", "--groups", groups.joined(separator: ","), name], mergeErrors: true)
            XCTAssertEqual(status, 0, "usermod \(name): \(text)")
        }
        let uid = try XCTUnwrap(UInt32(try Kernel.output("/usr/bin/id", ["-u", name]).text.trimmingCharacters(in: .whitespacesAndNewlines)))
        let gid = try XCTUnwrap(UInt32(try Kernel.output("/usr/bin/id", ["-g", name]).text.trimmingCharacters(in: .whitespacesAndNewlines)))
        XCTAssertNotEqual(uid, 0)
        return (name, uid, gid)
    }

    /// A directory anyone may write into (the command runs as another user).
    private func sharedDirectory() throws -> String {
        let dir = try Kernel.temporaryDirectory()
        chmod(dir, 0o1777)
        return dir
    }

    private func read(_ path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? "(missing \(path))"
    }

    /// What the command sees of itself, and each escape it tries, written into `dir/NAME`.
    private func probeScript(_ dir: String) -> String {
        """
        import ctypes, os, sys
        d = sys.argv[1]
        def put(name, text):
            with open(os.path.join(d, name), 'w') as f: f.write(text)
        put('uid', '%d %d\\n' % (os.getuid(), os.geteuid()))
        put('groups', ' '.join(str(g) for g in sorted(os.getgroups())) + '\\n')
        put('home', os.environ.get('HOME', '') + ' ' + os.environ.get('USER', '') + '\\n')
        put('status', ''.join(l for l in open('/proc/self/status') if l.split(':')[0] in
            ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb', 'NoNewPrivs')))
        def attempt(name, body):
            try:
                body(); put(name, 'done\\n')
            except OSError as e:
                put(name, '%d\\n' % e.errno)
        def leave():
            with open('/sys/fs/cgroup/cgroup.procs', 'w') as f: f.write(str(os.getpid()))
        attempt('cgroup', leave)
        # argv[2]: the signal for Probity (9; 0 only asks whether it could be sent).
        attempt('kill', lambda: os.kill(os.getppid(), int(sys.argv[2])))
        libc = ctypes.CDLL(None, use_errno=True)
        def ptrace():
            if libc.ptrace(16, os.getppid(), 0, 0) != 0: raise OSError(ctypes.get_errno(), 'ptrace')
        attempt('ptrace', ptrace)
        def bpf():
            # BPF_MAP_GET_NEXT_ID (12) from 0: the first step of reaching another program's maps.
            attr = ctypes.create_string_buffer(16)
            if libc.syscall(321, 12, attr, 16) != 0: raise OSError(ctypes.get_errno(), 'bpf')
        attempt('bpf', bpf)
        """
    }

    /// Capability lines of /proc/self/status that must be zero, and NoNewPrivs 1.
    private func assertUnprivileged(_ status: String, file: StaticString = #filePath, line: UInt = #line) {
        var fields: [String: String] = [:]
        for l in status.split(separator: "\n") {
            let parts = l.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.count == 2 { fields[parts[0]] = parts[1] }
        }
        for cap in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            XCTAssertEqual(fields[cap].flatMap { UInt64($0, radix: 16) }, 0, "\(cap): \(status)", file: file, line: line)
        }
        XCTAssertEqual(fields["NoNewPrivs"], "1", status, file: file, line: line)
    }

    /// Started through sudo (SUDO_UID/SUDO_GID), and with --user: the command is that user, with
    /// its groups and home, no capability, no_new_privs; it cannot leave the cgroup, kill or trace
    /// Probity, or reach the BPF maps.
    func testCommandRunsAsTheInvokingUserWithoutPrivileges() throws {
        let user = try Self.testUser()
        let userHome = try XCTUnwrap(try Kernel.output("/usr/bin/getent", ["passwd", user.name]).text.split(separator: ":", omittingEmptySubsequences: false).dropFirst(5).first)
        for (label, arguments, environment) in [
            ("sudo", [String](), ["SUDO_UID": "\(user.uid)", "SUDO_GID": "\(user.gid)", "SUDO_USER": user.name]),
            ("--user", ["--user", user.name], [String: String]()),
        ] {
            let dir = try sharedDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let run = try ProbityCommand.run(
                ["run", "--report", dir + "/r"] + arguments + ["--", "/usr/bin/env", "python3", "-c", probeScript(dir), dir, "9"],
                environment: environment, directory: dir)
            // The ptrace attempt on Probity is itself a violation (process-memory-read).
            XCTAssertEqual(run.status, 86, "\(label): \(run.stderr)")
            XCTAssertEqual(try ProbityCommand.violations(dir + "/r").list.compactMap { $0["rule"] as? String }, ["process-memory-read"], label)
            XCTAssertEqual(read(dir + "/uid"), "\(user.uid) \(user.uid)\n", "\(label): \(run.stderr)")
            XCTAssertFalse(read(dir + "/groups").split(separator: " ").contains("0"), "\(label): not in root's group: \(read(dir + "/groups"))")
            XCTAssertEqual(read(dir + "/home"), "\(userHome) \(user.name)\n", label)
            assertUnprivileged(read(dir + "/status"))
            for escape in ["cgroup", "kill", "ptrace", "bpf"] {
                let errno = read(dir + "/" + escape).trimmingCharacters(in: .whitespacesAndNewlines)
                XCTAssertTrue(["\(EPERM)", "\(EACCES)"].contains(errno), "\(label): \(escape) must fail with EPERM/EACCES, got \(errno)")
            }
            XCTAssertEqual(read(dir + "/kill"), "\(EPERM)\n", "\(label): killing Probity is refused")
            XCTAssertEqual(read(dir + "/ptrace"), "\(EPERM)\n", "\(label): tracing Probity is refused")
            XCTAssertTrue(run.stderr.contains("probity: the command runs as \(user.name) (uid \(user.uid)"), run.stderr)
            XCTAssertFalse(run.stderr.contains("ran as root"), run.stderr)
            let (document, _) = try ProbityCommand.violations(dir + "/r")
            XCTAssertEqual(document["command_ran_as_root"] as? Bool, false)
            XCTAssertEqual((document["command_user"] as? [String: Any])?["uid"] as? Int, Int(user.uid))
            XCTAssertEqual((document["command_user"] as? [String: Any])?["source"] as? String, label)
        }
    }

    /// Who the command runs as: --user wins over sudo's variables, sudo's over the current user;
    /// an unknown --user stops the run before the command starts.
    func testTheCommandUserIsResolvedFromSudoOrTheOption() throws {
        let user = try Self.testUser()
        let sudo = try CommandUser.resolve(user: nil, environment: ["SUDO_UID": "\(user.uid)", "SUDO_GID": "\(user.gid)", "HOME": "/root"])
        XCTAssertEqual(sudo.uid, user.uid)
        XCTAssertEqual(sudo.gid, user.gid)
        XCTAssertEqual(sudo.source, .sudo)
        XCTAssertTrue(sudo.groups.contains(user.gid), "\(sudo.groups)")
        XCTAssertFalse(sudo.groups.contains(0), "not root's groups: \(sudo.groups)")
        let env = sudo.environment(from: ["HOME": "/root", "USER": "root", "PATH": "/usr/bin"])
        XCTAssertEqual(env["USER"], user.name)
        XCTAssertEqual(env["LOGNAME"], user.name)
        XCTAssertNotEqual(env["HOME"], "/root")
        XCTAssertEqual(env["PATH"], "/usr/bin")
        let option = try CommandUser.resolve(user: user.name, environment: ["SUDO_UID": "0"])
        XCTAssertEqual(option.uid, user.uid)
        XCTAssertEqual(option.source, .option)
        XCTAssertEqual(try CommandUser.resolve(user: "\(user.uid)").name, user.name, "a uid names the same user")
        let current = try CommandUser.resolve(user: nil, environment: ["HOME": "/root"])
        XCTAssertEqual(current.uid, getuid())
        XCTAssertEqual(current.source, .current)
        XCTAssertFalse(current.changesUser)

        let dir = try sharedDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let run = try ProbityCommand.run(["run", "--user", "no-such-user-\(getpid())", "--report", dir + "/r", "--", "/usr/bin/touch", dir + "/ran"])
        XCTAssertEqual(run.status, 2, run.stderr)
        XCTAssertTrue(run.stderr.contains("--user no-such-user-\(getpid()): no such user"), run.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/ran"), "the command never ran")
    }

    /// Run as root (no sudo, no --user): still no capability and no_new_privs, and the console,
    /// violations.json and summary.md say that the command could have turned Probity off.
    func testRunAsRootIsReportedAndStillUnprivileged() throws {
        let dir = try sharedDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let run = try ProbityCommand.run(
            ["run", "--report", dir + "/r", "--", "/usr/bin/env", "python3", "-c", probeScript(dir), dir, "0"], directory: dir)
        XCTAssertEqual(run.status, 86, "the ptrace attempt is a violation: \(run.stderr)")
        XCTAssertEqual(read(dir + "/uid"), "0 0\n")
        assertUnprivileged(read(dir + "/status"))
        XCTAssertEqual(read(dir + "/bpf"), "\(EPERM)\n", "no CAP_BPF, no CAP_SYS_ADMIN: the maps are out of reach")
        XCTAssertEqual(read(dir + "/kill"), "done\n", "as root it could signal Probity (signal 0 asked): hence the warning")
        XCTAssertEqual(read(dir + "/ptrace"), "\(EPERM)\n", "no CAP_SYS_PTRACE: Probity holds capabilities the command lacks")
        let warning = "the command ran as root: it could have turned Probity off"
        XCTAssertTrue(run.stderr.contains("probity: WARNING: \(warning)"), run.stderr)
        XCTAssertTrue(read(dir + "/r/summary.md").contains(warning), read(dir + "/r/summary.md"))
        let (document, _) = try ProbityCommand.violations(dir + "/r")
        XCTAssertEqual(document["command_ran_as_root"] as? Bool, true)
        XCTAssertEqual((document["command_user"] as? [String: Any])?["source"] as? String, "current")
    }

    /// Enforce mode: the command moves itself out of every cgroup it was in (as the invoking user
    /// it cannot; as root it can) and a connect the default contract denies is still refused,
    /// because the checks sit on the root cgroup and decide by the process's class. A process
    /// outside the run, connecting to the same address meanwhile, is not touched.
    func testLeavingTheCgroupDoesNotEscapeEnforcement() throws {
        let user = try Self.testUser()
        for (label, arguments) in [("user", ["--user", user.name]), ("root", [String]())] {
            let dir = try sharedDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let script = """
                import os, socket, sys, time
                d = sys.argv[1]
                time.sleep(0.5)  # the process's own class is set a few milliseconds after its exec
                def put(name, text):
                    with open(os.path.join(d, name), 'w') as f: f.write(text)
                try:
                    with open('/sys/fs/cgroup/cgroup.procs', 'w') as f: f.write(str(os.getpid()))
                    put('cgroup', 'moved\\n')
                except OSError as e:
                    put('cgroup', '%d\\n' % e.errno)
                put('where', open('/proc/self/cgroup').read())
                s = socket.socket(); s.settimeout(2)
                put('connect', '%d\\n' % s.connect_ex(('192.0.2.1', 443)))
                put('ready', '')
                for _ in range(100):
                    if os.path.exists(os.path.join(d, 'outside')): break
                    time.sleep(0.05)
                """
            let finished = Finished()
            let thread = Thread {
                finished.set(try? ProbityCommand.run(
                    ["run", "--mode", "enforce", "--report", dir + "/r"] + arguments + ["--", "/usr/bin/env", "python3", "-c", script, dir],
                    directory: dir))
            }
            thread.start()
            // Meanwhile, a process outside the run connects to the same address: not refused.
            var waited = 0
            while !FileManager.default.fileExists(atPath: dir + "/ready") && waited < 300 { usleep(50_000); waited += 1 }
            let outside = try Kernel.output("/usr/bin/python3", ["-c",
                "import socket; s = socket.socket(); s.setblocking(False); print(s.connect_ex(('192.0.2.1', 443)))"])
            FileManager.default.createFile(atPath: dir + "/outside", contents: Data())
            let run = try XCTUnwrap(finished.wait(), label)
            XCTAssertEqual(run.status, 86, "\(label): \(run.stderr)")
            if label == "root" {
                XCTAssertEqual(read(dir + "/cgroup"), "moved\n", "root without capabilities can still move itself")
                let unified = read(dir + "/where").split(separator: "\n").filter { $0.hasPrefix("0::") }
                XCTAssertEqual(unified, ["0::/"], "it moved to the root of the cgroup v2 hierarchy")
                XCTAssertTrue(run.stderr.contains("the command ran as root: it could have turned Probity off"), run.stderr)
            } else {
                XCTAssertTrue(["\(EACCES)\n", "\(EPERM)\n"].contains(read(dir + "/cgroup")), "\(label): \(read(dir + "/cgroup"))")
            }
            XCTAssertEqual(read(dir + "/connect"), "\(EPERM)\n", "\(label): the denied connect is still refused: \(run.stderr)")
            XCTAssertNotEqual(outside.text.trimmingCharacters(in: .whitespacesAndNewlines), "\(EPERM)", "a process outside the run is not enforced")
            let list = try ProbityCommand.violations(dir + "/r").list
            let egress = list.filter { $0["rule"] as? String == "egress" }
            XCTAssertEqual(egress.count, 1, "\(label): \(list)")
            XCTAssertEqual(egress.first?["enforcement"] as? String, "kernel", "\(label): \(egress)")
        }
    }

    /// A followed-process map too small for the tree (a test-only load option): the processes the
    /// kernel could not add are counted and the gate fails with its own status.
    func testAFullFollowedProcessMapFailsTheGate() throws {
        let dir = try sharedDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let run = try ProbityCommand.run(
            ["run", "--max-tracked", "16", "--report", dir + "/r", "--",
             "/bin/sh", "-c", "for i in $(seq 48); do sleep 1 & done; wait"], directory: dir)
        XCTAssertEqual(run.status, 88, run.stderr)
        XCTAssertTrue(run.stderr.contains("not every process was watched"), run.stderr)
        let (document, _) = try ProbityCommand.violations(dir + "/r")
        XCTAssertEqual(document["passed"] as? Bool, false)
        let unwatched = document["unwatched_processes"] as? Int ?? 0
        XCTAssertGreaterThanOrEqual(unwatched, 48 - 16, "\(document)")
        let failures = document["failures"] as? [String] ?? []
        XCTAssertTrue(failures.contains { $0.contains("not every process was watched") }, "\(failures)")
        XCTAssertTrue(read(dir + "/r/summary.md").contains("not every process was watched"))

        // Enforce mode: the class map is as small, and the children it could not take are
        // counted too (nothing would have been enforced on them).
        let enforce = try ProbityCommand.run(
            ["run", "--mode", "enforce", "--max-tracked", "16", "--report", dir + "/e", "--",
             "/bin/sh", "-c", "for i in $(seq 48); do sleep 1 & done; wait"], directory: dir)
        XCTAssertEqual(enforce.status, 88, enforce.stderr)
        let enforceFailures = try ProbityCommand.violations(dir + "/e").document["failures"] as? [String] ?? []
        XCTAssertTrue(enforceFailures.contains { $0.contains("not enforced") && $0.contains("not every process was watched") }, "\(enforceFailures)")

        // The same tree with the map at its normal size: watched, passed.
        let normal = try ProbityCommand.run(
            ["run", "--report", dir + "/r2", "--", "/bin/sh", "-c", "for i in $(seq 48); do sleep 1 & done; wait"], directory: dir)
        XCTAssertEqual(normal.status, 0, normal.stderr)
        XCTAssertEqual(try ProbityCommand.violations(dir + "/r2").document["unwatched_processes"] as? Int, 0)
    }
}

/// The result of a run on another thread.
private final class Finished: @unchecked Sendable {
    private let lock = NSCondition()
    private var value: ProbityCommand.Finished??

    func set(_ v: ProbityCommand.Finished?) {
        lock.lock(); value = .some(v); lock.signal(); lock.unlock()
    }

    func wait() -> ProbityCommand.Finished? {
        lock.lock(); defer { lock.unlock() }
        while value == nil { lock.wait() }
        return value!
    }
}
