#if canImport(Glibc)
import Glibc
#endif
import Foundation
import XCTest
import ProbityEvents
import ProbityMonitor
import ProbityProcess

/// Real workloads under the real probes: each test asserts on the events the kernel reported.
final class EventStreamTests: XCTestCase {
    // MARK: Lineage and exec

    func testShellChainLineageReachesTheTest() throws {
        let run = try Kernel.trace(["/bin/sh", "-c", "/bin/sh -c '/bin/true; exit 0'; exit 0"])
        XCTAssertEqual(run.exitStatus, 0)
        let trueExec = try XCTUnwrap(run.execs.first { $0.executable == "/usr/bin/true" && $0.succeeded }, run.dump)
        // The grandchild's chain: true -> inner sh -> outer sh (the gated child) -> this test.
        let chain = run.table.lineage(of: trueExec.header.pid).map(\.pid)
        XCTAssertTrue(chain.contains(run.childPID), "chain \(chain) reaches the traced command \(run.childPID)")
        XCTAssertTrue(chain.contains(getpid()), "chain \(chain) reaches this test process \(getpid())")
        XCTAssertGreaterThanOrEqual(chain.count, 3)
        // Every fork of the tree was seen, with the child's exec afterwards.
        XCTAssertTrue(run.forks.contains { $0.childPID == trueExec.header.pid }, run.dump)
        XCTAssertEqual(trueExec.argv, ["/bin/true"])
        XCTAssertFalse(trueExec.cwd.isEmpty)
    }

    func testExecCarriesArgvCwdAndIdentity() throws {
        let run = try Kernel.trace(["/bin/sh", "-c", "cd /usr/share && /usr/bin/env -i /bin/echo hello 'two words' >/dev/null"])
        let echo = try XCTUnwrap(run.execs.first { $0.executable == "/usr/bin/echo" }, run.dump)
        XCTAssertEqual(echo.argv, ["/bin/echo", "hello", "two words"])
        XCTAssertEqual(echo.cwd, "/usr/share")
        XCTAssertEqual(echo.header.uid, getuid())
        XCTAssertGreaterThan(echo.startTimeNanoseconds, 0)
        XCTAssertGreaterThan(echo.header.cgroupID, 0)
        XCTAssertEqual(echo.result, 0)
    }

    func testExecKeepsLifecycleEnvironmentOnly() throws {
        setenv("npm_package_name", "left-pad", 1)
        setenv("npm_lifecycle_event", "postinstall", 1)
        setenv("PROBITY_TEST_SECRET", "hunter2", 1)
        defer {
            unsetenv("npm_package_name"); unsetenv("npm_lifecycle_event"); unsetenv("PROBITY_TEST_SECRET")
            unsetenv("PROBITY_TEST_PADDING")
        }
        let run = try Kernel.trace(["/bin/true"])
        let exec = try XCTUnwrap(run.execs.first { $0.executable == "/usr/bin/true" }, run.dump)
        XCTAssertEqual(Set(exec.environment), ["npm_package_name=left-pad", "npm_lifecycle_event=postinstall"])
        XCTAssertFalse(exec.header.flags.contains(.environmentTruncated))

        // A 40 KiB environment: the kernel keeps its last 16 KiB, where npm's variables are.
        setenv("PROBITY_TEST_PADDING", String(repeating: "p", count: 40_000), 1)
        let big = try Kernel.trace(["/usr/bin/env", "npm_lifecycle_script=node install.js", "/bin/true"])
        let inner = try XCTUnwrap(big.execs.first { $0.executable == "/usr/bin/true" }, big.dump)
        XCTAssertTrue(inner.header.flags.contains(.environmentTruncated))
        XCTAssertTrue(inner.environment.contains("npm_lifecycle_script=node install.js"), "\(inner.environment)")
        XCTAssertFalse(inner.environment.contains { $0.contains("hunter2") || $0.hasPrefix("PROBITY_TEST") })
    }

    func testFailedExecIsAnEvent() throws {
        let run = try Kernel.python("import os\ntry:\n  os.execv('/nonexistent/probity-prog', ['x', 'y'])\nexcept OSError: pass")
        let failed = try XCTUnwrap(run.execs.first { $0.filename == "/nonexistent/probity-prog" }, run.dump)
        XCTAssertEqual(failed.result, -Int64(ENOENT))
        XCTAssertFalse(failed.succeeded)
        XCTAssertEqual(failed.argv, ["x", "y"])
        XCTAssertTrue(failed.header.flags.contains(.failedExec))
    }

    func testExitCodeAndSignal() throws {
        let run = try Kernel.trace(["/bin/sh", "-c", "/bin/sh -c 'exit 7'; /bin/sh -c 'kill -9 $$'; exit 3"])
        XCTAssertEqual(GatedChild.exitCode(fromWaitStatus: run.exitStatus), 3)
        XCTAssertTrue(run.exits.contains { $0.exitCode == 7 }, run.dump)
        XCTAssertTrue(run.exits.contains { $0.signal == SIGKILL }, run.dump)
        XCTAssertEqual(run.exits.first { $0.header.pid == run.childPID }?.exitCode, 3)
    }

    func testArgvTruncation() throws {
        let many = (1...40).map { "arg\($0)" }
        let run = try Kernel.trace(["/bin/true"] + many)
        let exec = try XCTUnwrap(run.execs.first { $0.executable == "/usr/bin/true" }, run.dump)
        XCTAssertEqual(exec.argv.count, Limits.maxArguments)
        XCTAssertEqual(exec.argc, 41)
        XCTAssertTrue(exec.header.flags.contains(.argvTruncated))

        let huge = String(repeating: "x", count: 6000)
        let run2 = try Kernel.trace(["/bin/true", "short", huge])
        let exec2 = try XCTUnwrap(run2.execs.first { $0.executable == "/usr/bin/true" }, run2.dump)
        XCTAssertTrue(exec2.header.flags.contains(.argvTruncated))
        XCTAssertEqual(exec2.argv.first, "/bin/true")
        XCTAssertEqual(exec2.argv.dropFirst().first, "short")
        XCTAssertLessThan(exec2.argv.joined().utf8.count, 4096)

        let run3 = try Kernel.trace(["/bin/true", "a", "b"])
        let exec3 = try XCTUnwrap(run3.execs.first { $0.executable == "/usr/bin/true" }, run3.dump)
        XCTAssertFalse(exec3.header.flags.contains(.argvTruncated))
    }

    // MARK: Evasion cases

    func testExecThroughSymlinkReportsTheResolvedFile() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let link = dir + "/innocent-name"
        XCTAssertEqual(symlink("/usr/bin/true", link), 0)
        let run = try Kernel.trace([link])
        let exec = try XCTUnwrap(run.execs.first { $0.filename == link }, run.dump)
        XCTAssertEqual(exec.executable, "/usr/bin/true")
    }

    func testExecveatEmptyPathReportsTheFile() throws {
        // os.execve with a file descriptor is fexecve: execveat(fd, "", ..., AT_EMPTY_PATH).
        let run = try Kernel.python("import os\nfd = os.open('/usr/bin/true', os.O_RDONLY)\nos.execve(fd, ['true'], {})")
        let exec = try XCTUnwrap(run.execs.first { $0.executable == "/usr/bin/true" }, run.dump)
        XCTAssertTrue(exec.succeeded)
        XCTAssertFalse(exec.isMemoryBacked)
    }

    func testMemfdExecIsFlaggedMemoryBacked() throws {
        let script = """
            import os
            fd = os.memfd_create('payload', 0)
            os.write(fd, open('/usr/bin/true', 'rb').read())
            os.execve(fd, ['payload'], {})
            """
        let run = try Kernel.python(script)
        let exec = try XCTUnwrap(run.execs.first { $0.argv == ["payload"] }, run.dump)
        XCTAssertTrue(exec.succeeded)
        XCTAssertTrue(exec.isMemoryBacked, "\(exec)")
        XCTAssertTrue(exec.executable.contains("memfd:payload"), exec.executable)
    }

    func testOpenThroughDirfdAfterRenameReportsTheNewName() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let script = """
            import os
            os.mkdir('\(dir)/before')
            open('\(dir)/before/secret.txt', 'w').close()
            d = os.open('\(dir)/before', os.O_RDONLY | os.O_DIRECTORY)
            os.rename('\(dir)/before', '\(dir)/after')
            os.close(os.open('secret.txt', os.O_RDONLY, dir_fd=d))
            """
        let run = try Kernel.python(script)
        let open = try XCTUnwrap(run.opens.first { $0.requestedPath == "secret.txt" }, run.dump)
        XCTAssertEqual(open.path, "\(dir)/after/secret.txt")
        XCTAssertGreaterThanOrEqual(open.result, 0)
    }

    func testIOUringRingCreationIsReported() throws {
        let script = """
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            params = ctypes.create_string_buffer(120)
            fd = libc.syscall(425, 8, params)
            assert fd >= 0, ctypes.get_errno()
            """
        let run = try Kernel.python(script)
        XCTAssertEqual(run.exitStatus, 0, "io_uring_setup worked in the workload")
        let ring = try XCTUnwrap(run.ioUring.first { $0.syscall == .ioUringSetup }, run.dump)
        XCTAssertEqual(ring.submissionEntries, 8)
        XCTAssertEqual(ring.header.pid, run.execs.last { $0.succeeded }?.header.pid)
    }

    // MARK: Opens

    func testAbsoluteRelativeAndFailedOpens() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(atPath: dir + "/data.txt", contents: Data("x".utf8))
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
        let run = try Kernel.trace([
            "/bin/sh", "-c",
            "cat /etc/hostname >/dev/null; cd \(dir)/sub && cat ../data.txt >/dev/null; cat ./missing 2>/dev/null; echo hi > new.txt",
        ])
        let absolute = try XCTUnwrap(run.opens.first { $0.path == "/etc/hostname" }, run.dump)
        XCTAssertGreaterThanOrEqual(absolute.result, 0)
        XCTAssertTrue(absolute.flags.reads)
        XCTAssertFalse(absolute.flags.writes)

        let relative = try XCTUnwrap(run.opens.first { $0.requestedPath == "../data.txt" }, run.dump)
        XCTAssertEqual(relative.path, "\(dir)/data.txt")
        XCTAssertTrue(relative.header.flags.contains(.relative))

        let missing = try XCTUnwrap(run.opens.first { $0.requestedPath == "./missing" }, run.dump)
        XCTAssertEqual(missing.path, "\(dir)/sub/missing")
        XCTAssertEqual(missing.result, -Int64(ENOENT))

        let created = try XCTUnwrap(run.opens.first { $0.path == "\(dir)/sub/new.txt" }, run.dump)
        XCTAssertTrue(created.flags.writes)
        XCTAssertTrue(created.flags.creates)
        XCTAssertTrue(created.flags.truncates)
        XCTAssertFalse(created.flags.reads)
    }

    func testOpenatWithDirfdAndOtherOpenCalls() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let script = """
            import os, ctypes
            open('\(dir)/f.txt', 'w').close()
            d = os.open('\(dir)', os.O_RDONLY | os.O_DIRECTORY)
            os.close(os.open('f.txt', os.O_RDONLY, dir_fd=d))
            libc = ctypes.CDLL(None, use_errno=True)
            libc.syscall(85, b'\(dir)/creat.txt', 0o600)            # creat
            libc.syscall(2, b'\(dir)/legacy-open.txt', 0o101, 0o644) # open(O_WRONLY|O_CREAT)
            how = (ctypes.c_uint64 * 3)(0, 0, 0)                     # openat2(AT_FDCWD, ..., {O_RDONLY})
            libc.syscall(437, -100, b'\(dir)/f.txt', ctypes.byref(how), 24)
            """
        let run = try Kernel.python(script)
        let viaDirfd = try XCTUnwrap(run.opens.first { $0.requestedPath == "f.txt" }, run.dump)
        XCTAssertEqual(viaDirfd.path, "\(dir)/f.txt")
        XCTAssertGreaterThanOrEqual(viaDirfd.dirfd, 0)
        let creat = try XCTUnwrap(run.opens.first { $0.syscall == .creat }, run.dump)
        XCTAssertEqual(creat.path, "\(dir)/creat.txt")
        XCTAssertTrue(creat.flags.creates && creat.flags.writes && creat.flags.truncates)
        let legacy = try XCTUnwrap(run.opens.first { $0.syscall == .open && $0.path.hasSuffix("legacy-open.txt") }, run.dump)
        XCTAssertTrue(legacy.flags.creates)
        let openat2 = try XCTUnwrap(run.opens.first { $0.syscall == .openat2 }, run.dump)
        XCTAssertEqual(openat2.path, "\(dir)/f.txt")
        XCTAssertGreaterThanOrEqual(openat2.result, 0)
    }

    func testIdenticalOpensAreCoalescedWithACount() throws {
        let script = "import os\nfor i in range(1000):\n  os.close(os.open('/etc/hostname', os.O_RDONLY))"
        // Pinned to one CPU: the coalescing cache is per CPU (so at most one first record per CPU).
        let run = try Kernel.trace(["taskset", "-c", "0", "python3", "-c", script], coalesceWindowNanoseconds: 10_000_000_000)
        let records = run.opens.filter { $0.path == "/etc/hostname" }
        XCTAssertLessThanOrEqual(records.count, 3, "1000 identical opens fold into a first record and a flushed count")
        XCTAssertEqual(records.map(\.count).reduce(0, +), 1000, "every folded open is reported in a count: \(records)")
        XCTAssertTrue(records.contains { $0.count > 1 && $0.header.flags.contains(.coalesced) })
        XCTAssertGreaterThanOrEqual(run.statistics.coalescedOpens, 999)

        let uncoalesced = try Kernel.python(script, coalesceWindowNanoseconds: 0)
        XCTAssertGreaterThanOrEqual(uncoalesced.opens.filter { $0.path == "/etc/hostname" }.count, 1000)
    }

    func testFoldedOpensOfEveryCPUAreReportedAtExit() throws {
        // The coalescing slots are per CPU: a process that folds opens on one CPU, moves to
        // another and exits there still has every folded open reported, from both CPUs' slots.
        // (Flushing only the exiting CPU's slots left the first CPU's 199 unreported.)
        guard ProcessInfo.processInfo.activeProcessorCount >= 2 else {
            return XCTFail("this test needs two CPUs to move the process between (the machines it runs on have them)")
        }
        let script = """
            import os
            for cpu in (0, 1):
                os.sched_setaffinity(0, {cpu})
                for i in range(200): os.close(os.open('/etc/hostname', os.O_RDONLY))
            """
        let run = try Kernel.trace(["python3", "-c", script], coalesceWindowNanoseconds: 10_000_000_000)
        let records = run.opens.filter { $0.path == "/etc/hostname" }
        XCTAssertEqual(records.map(\.count).reduce(0, +), 400, "every open on both CPUs is counted: \(records.map(\.count))")
        XCTAssertLessThanOrEqual(records.count, 4, "a first record and a flushed count per CPU: \(records.map(\.count))")
    }

    func testFoldedOpensAreReportedAfterTheWindow() throws {
        // The next identical open after the window carries the count folded during it.
        let script = """
            import os, time
            for i in range(50): os.close(os.open('/etc/hostname', os.O_RDONLY))
            time.sleep(0.4)
            os.close(os.open('/etc/hostname', os.O_RDONLY))
            """
        let run = try Kernel.trace(["taskset", "-c", "0", "python3", "-c", script], coalesceWindowNanoseconds: 200_000_000)
        let records = run.opens.filter { $0.path == "/etc/hostname" }
        XCTAssertEqual(records.map(\.count), [1, 50], "the open after the window stands for itself and the 49 folded")
    }

    // MARK: Network

    func testConnectIPv4AndIPv6Loopback() throws {
        let script = """
            import socket
            for fam, host in ((socket.AF_INET, '127.0.0.1'), (socket.AF_INET6, '::1')):
                srv = socket.socket(fam, socket.SOCK_STREAM)
                srv.bind((host, 0)); srv.listen(1)
                port = srv.getsockname()[1]
                print(port, flush=True)
                c = socket.socket(fam, socket.SOCK_STREAM)
                c.connect((host, port))
                c.close(); srv.close()
            """
        let run = try Kernel.python(script)
        let v4 = try XCTUnwrap(run.connects.first { $0.destination.family == .inet && $0.syscall == .connect }, run.dump)
        XCTAssertEqual(v4.destination.address, "127.0.0.1")
        XCTAssertEqual(v4.result, 0)
        XCTAssertEqual(v4.transport, .tcp)
        XCTAssertEqual(v4.socketType, .stream)
        XCTAssertGreaterThan(v4.destination.port ?? 0, 0)
        let v6 = try XCTUnwrap(run.connects.first { $0.destination.family == .inet6 }, run.dump)
        XCTAssertEqual(v6.destination.address, "::1")
        XCTAssertEqual(v6.result, 0)
        XCTAssertEqual(v6.transport, .tcp)
    }

    func testNonBlockingConnectCountsAsAttempt() throws {
        let script = """
            import socket
            srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(1)
            c = socket.socket(); c.setblocking(False)
            c.connect_ex(('127.0.0.2', srv.getsockname()[1]))
            """
        let run = try Kernel.python(script)
        let attempt = try XCTUnwrap(run.connects.first { $0.destination.address == "127.0.0.2" }, run.dump)
        XCTAssertTrue(attempt.result == 0 || attempt.result == -Int64(EINPROGRESS) || attempt.result == -Int64(ECONNREFUSED))
    }

    func testUnixSocketAndUDPSendto() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let script = """
            import socket
            srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            srv.bind('\(dir)/ctl.sock'); srv.listen(1)
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); c.connect('\(dir)/ctl.sock')
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.sendto(b'probe', ('127.0.0.1', 5353))
            m = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            m.sendmsg([b'x'], [], 0, ('::1', 5354))
            """
        let run = try Kernel.python(script)
        let unix = try XCTUnwrap(run.connects.first { $0.destination.family == .unix && $0.syscall == .connect && $0.destination.address == "\(dir)/ctl.sock" }, run.dump)
        XCTAssertEqual(unix.result, 0)
        XCTAssertEqual(unix.socketType, .stream)
        let udp = try XCTUnwrap(run.connects.first { $0.syscall == .sendto && $0.destination.family == .inet }, run.dump)
        XCTAssertEqual(udp.destination.description, "127.0.0.1:5353")
        XCTAssertEqual(udp.transport, .udp)
        XCTAssertEqual(udp.result, 5)
        let msg = try XCTUnwrap(run.connects.first { $0.syscall == .sendmsg && $0.destination.family == .inet6 }, run.dump)
        XCTAssertEqual(msg.destination.description, "[::1]:5354")
        XCTAssertEqual(msg.transport, .udp)
    }

    /// unlink, unlinkat (relative to a directory fd) and rmdir: absolute paths, results, errors.
    func testRemovalsAreReportedWithAbsolutePaths() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let script = """
            import os
            d = '\(dir)'
            open(d + '/a', 'w').close(); open(d + '/b', 'w').close(); os.mkdir(d + '/sub')
            os.unlink(d + '/a')
            fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY); os.unlink('b', dir_fd=fd)
            os.rmdir(d + '/sub')
            try: os.unlink(d + '/missing')
            except OSError: pass
            """
        let run = try Kernel.python(script)
        let byPath = Dictionary(run.removals.map { ($0.path, $0) }) { first, _ in first }
        let a = try XCTUnwrap(byPath[dir + "/a"], run.dump)
        XCTAssertEqual(a.result, 0)
        let b = try XCTUnwrap(byPath[dir + "/b"], "unlinkat relative to a directory fd: \(run.dump)")
        XCTAssertEqual(b.requestedPath, "b")
        XCTAssertEqual(b.syscall, .unlinkat)
        let sub = try XCTUnwrap(byPath[dir + "/sub"], run.dump)
        XCTAssertTrue(sub.isDirectory)
        XCTAssertEqual(byPath[dir + "/missing"]?.result, -Int64(ENOENT))
    }

    // MARK: Loss accounting

    func testOverflowOfASmallRingIsCountedAsLost() throws {
        let script = "import os\nfor i in range(20000):\n  try: os.open('/nonexistent/probity/%d' % i, os.O_RDONLY)\n  except OSError: pass"
        let run = try Kernel.python(script, ringBufferBytes: 4096)
        let delivered = run.opens.filter { $0.path.hasPrefix("/nonexistent/probity/") }.count
        let dropped = run.statistics.kernelDrops[.open] ?? 0
        XCTAssertGreaterThan(dropped, 0, "a 4 KiB ring cannot hold a burst of 20k opens")
        XCTAssertGreaterThanOrEqual(UInt64(delivered) + dropped, 20000, "every open was delivered or counted as lost")
        XCTAssertGreaterThan(run.statistics.lostTotal, 0)
    }

    func testFollowedTreeExcludesOtherProcesses() throws {
        // A process outside the tree opens a marker file while the traced command runs.
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let outsider = try GatedChild(command: ["/bin/sh", "-c", "for i in 1 2 3 4 5; do cat /etc/hostname >/dev/null; sleep 0.05; done; cat \(dir)/outside 2>/dev/null; true"])
        outsider.release()
        let run = try Kernel.trace(["/bin/sh", "-c", "sleep 0.4; cat \(dir)/inside 2>/dev/null; true"])
        outsider.wait()
        XCTAssertTrue(run.opens.contains { $0.path == "\(dir)/inside" }, run.dump)
        XCTAssertFalse(run.opens.contains { $0.path == "\(dir)/outside" })
        XCTAssertFalse(run.events.contains { $0.pid == outsider.pid })
    }
}
