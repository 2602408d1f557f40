#if canImport(Glibc)
import Glibc
#endif
import Foundation
import XCTest

/// The `probity` executable itself, run as a user would: `probity trace --json -- CMD` and
/// `probity trace --json --pid N`, output parsed as JSON lines.
final class TraceCommandTests: XCTestCase {
    private func probityBinary() throws -> URL { try Kernel.probityBinary() }

    private struct Output {
        var status: Int32
        var events: [[String: Any]]
        var stderr: String
    }

    private func run(_ arguments: [String], asUser uid: Int? = nil, whileRunning body: (() -> Void)? = nil) throws -> Output {
        let process = Process()
        if let uid {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments = ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", try probityBinary().path] + arguments
        } else {
            process.executableURL = try probityBinary()
            process.arguments = arguments
        }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        body?()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let events = try data.split(separator: UInt8(ascii: "\n")).map { line in
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line)) as? [String: Any], String(decoding: line, as: UTF8.self))
        }
        return Output(status: process.terminationStatus, events: events, stderr: String(decoding: errData, as: UTF8.self))
    }

    func testTraceACommandPrintsExecOpenConnectWithLineage() throws {
        let script = """
            cat /etc/hostname >/dev/null; python3 -c "import socket
            try: socket.create_connection(('127.0.0.1', 9), timeout=2)
            except OSError: pass"; exit 4
            """
        let out = try run(["trace", "--json", "--", "/bin/sh", "-c", script])
        XCTAssertEqual(out.status, 4, "exits with the command's status")
        XCTAssertTrue(out.stderr.contains("hooks attached"), out.stderr)
        XCTAssertTrue(out.stderr.contains("lost: 0"), out.stderr)
        let sh = try XCTUnwrap(out.events.first { $0["kind"] as? String == "exec" && ($0["result"] as? Int) == 0 })
        let shPID = try XCTUnwrap(sh["pid"] as? Int)
        let cat = try XCTUnwrap(out.events.first { $0["kind"] as? String == "exec" && $0["exe"] as? String == "/usr/bin/cat" })
        XCTAssertEqual(cat["ppid"] as? Int, shPID, "cat's parent is the shell")
        XCTAssertEqual(cat["argv"] as? [String], ["cat", "/etc/hostname"])
        let open = try XCTUnwrap(out.events.first { $0["kind"] as? String == "open" && $0["path"] as? String == "/etc/hostname" })
        XCTAssertEqual(open["pid"] as? Int, cat["pid"] as? Int)
        XCTAssertEqual(open["flags"] as? [String], ["read"])
        XCTAssertGreaterThanOrEqual(open["result"] as? Int ?? -1, 0)
        // Other connects may come first (glibc asks nscd over a Unix socket where it runs).
        let connect = try XCTUnwrap(out.events.first { $0["kind"] as? String == "connect" && $0["family"] as? String != "unix" }, "\(out.events.suffix(5))")
        XCTAssertEqual(connect["family"] as? String, "ipv4")
        XCTAssertEqual(connect["address"] as? String, "127.0.0.1")
        XCTAssertEqual(connect["port"] as? Int, 9)
        XCTAssertEqual(connect["protocol"] as? String, "tcp")
        XCTAssertTrue(["ECONNREFUSED", "EINPROGRESS"].contains(connect["error"] as? String ?? ""), "\(connect)")
        for event in out.events {
            for field in ["kind", "time", "pid", "ppid", "uid"] { XCTAssertNotNil(event[field], "\(field) in \(event)") }
        }
        // Only the command's tree: every pid descends from the shell.
        let pids = Set(out.events.compactMap { $0["pid"] as? Int })
        let forked = Set(out.events.compactMap { $0["child_pid"] as? Int })
        XCTAssertTrue(pids.isSubset(of: forked.union([shPID])), "pids \(pids) outside the tree")
    }

    func testTraceByPIDFollowsAnExistingTree() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // The target waits for a go file, so that its cat starts only once the tracer is attached.
        let target = try GatedChildProcess([
            "/bin/sh", "-c", "while [ ! -e \(dir)/go ]; do sleep 0.05; done; cat \(dir)/marker 2>/dev/null; exit 0",
        ])
        defer { target.stop() }
        let tracer = Process()
        tracer.executableURL = try probityBinary()
        tracer.arguments = ["trace", "--json", "--pid", "\(target.pid)"]
        let out = Pipe(), err = Pipe()
        tracer.standardOutput = out
        tracer.standardError = err
        try tracer.run()
        var stderrText = ""
        let deadline = Date().addingTimeInterval(30)
        while !stderrText.contains("hooks attached") && Date() < deadline {
            let chunk = err.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            stderrText += String(decoding: chunk, as: UTF8.self)
        }
        XCTAssertTrue(stderrText.contains("hooks attached"), stderrText)
        FileManager.default.createFile(atPath: dir + "/go", contents: nil)
        target.waitForExit()
        usleep(300_000)
        tracer.interrupt()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        tracer.waitUntilExit()
        XCTAssertEqual(tracer.terminationStatus, 0)
        let lines = data.split(separator: UInt8(ascii: "\n")).compactMap {
            try? JSONSerialization.jsonObject(with: Data($0)) as? [String: Any]
        }
        XCTAssertTrue(lines.contains { $0["path"] as? String == "\(dir)/marker" }, "\(lines.suffix(5))")
        XCTAssertTrue(lines.allSatisfy { ($0["pid"] as? Int) != Int(getpid()) }, "nothing from outside the tree")
    }

    func testBadArgumentsAreRefusedClearly() throws {
        let out = try run(["trace", "--pid", "1", "--", "/bin/true"])
        XCTAssertNotEqual(out.status, 0)
        XCTAssertTrue(out.stderr.contains("--pid and a command cannot be combined"), out.stderr)
        let missing = try run(["trace", "--pid", "999999999"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("no such process"), missing.stderr)
        let noCommand = try run(["trace", "--json", "--", "/nonexistent/program"])
        XCTAssertEqual(noCommand.status, 127)
        let badSize = try run(["trace", "--ring-buffer-mb", "0", "--", "/bin/true"])
        XCTAssertNotEqual(badSize.status, 0)
        XCTAssertTrue(badSize.stderr.contains("--ring-buffer-mb"), badSize.stderr)
    }

    /// Without privileges the probes cannot load: a clear refusal that says what is needed, and
    /// the command is not run.
    func testUnprivilegedUserGetsAClearError() throws {
        let out = try run(["trace", "--no-attribution", "--", "/bin/true"], asUser: 65534)
        XCTAssertNotEqual(out.status, 0)
        XCTAssertTrue(out.stderr.contains("needs root"), out.stderr)
        XCTAssertTrue(out.events.isEmpty)
    }
}

/// Unix habits of `probity trace`: where events go, the command's lookup, stopping.
final class TraceHabitTests: XCTestCase {
    private struct Started {
        let process: Process
        let stdoutPath: String
        let stderrPath: String
        var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
        var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }
    }

    /// Starts probity (in a process group of its own with `group`) with standard output and
    /// error in files under `dir`.
    private func start(_ arguments: [String], in dir: String, group: Bool = false) throws -> Started {
        let process = Process()
        let probity = try Kernel.probityBinary().path
        // Through a small launcher that gives SIGINT and SIGQUIT back their default action (a
        // test run started in the background has them ignored, and the command would inherit
        // that) and, with `group`, makes probity the leader of a new process group (pid == pgid),
        // as a shell does for a job.
        let launcher = """
            import os, signal, sys
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGQUIT, signal.SIG_DFL)
            if sys.argv[1] == "group": os.setpgid(0, 0)
            os.execv(sys.argv[2], sys.argv[2:])
            """
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", launcher, group ? "group" : "same", probity] + arguments
        let outPath = dir + "/stdout", errPath = dir + "/stderr"
        FileManager.default.createFile(atPath: outPath, contents: nil)
        FileManager.default.createFile(atPath: errPath, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return Started(process: process, stdoutPath: outPath, stderrPath: errPath)
    }

    private func waitFor(_ text: String, in started: Started, seconds: Double = 30) {
        let deadline = Date().addingTimeInterval(seconds)
        while !started.stderr.contains(text) && started.process.isRunning && Date() < deadline { usleep(20_000) }
    }

    /// Every line parses as a JSON object, as jq would read it.
    private func jsonLines(_ text: String) throws -> [[String: Any]] {
        try text.split(separator: "\n").map { line in
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not JSON: \(line)")
        }
    }

    /// `probity trace -q --json -- echo hello | jq`: standard output holds events only; the
    /// command's output goes to standard error. One exec (of the absolute path), none failed.
    func testEventsAloneOnStandardOutputPipeIntoJq() throws {
        let out = try Kernel.output("/bin/sh", ["-c", "\"$0\" trace -q --json -- echo hello | jq -c '{kind, exe, result}'; echo \"jq status $?\"", try Kernel.probityBinary().path], mergeErrors: true)
        XCTAssertEqual(out.status, 0)
        XCTAssertTrue(out.text.contains("jq status 0"), out.text)
        XCTAssertFalse(out.text.contains("parse error"), out.text)
        XCTAssertTrue(out.text.contains("hello"), "the command’s output reaches standard error: \(out.text)")

        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let started = try start(["trace", "-q", "--json", "--", "echo", "hello"], in: dir)
        started.process.waitUntilExit()
        XCTAssertEqual(started.process.terminationStatus, 0)
        XCTAssertEqual(started.stderr, "hello\n")
        let events = try jsonLines(started.stdout)
        let execs = events.filter { $0["kind"] as? String == "exec" }
        XCTAssertEqual(execs.count, 1, "one exec, no failed one per PATH entry: \(execs)")
        XCTAssertEqual(execs.first?["result"] as? Int, 0)
        XCTAssertEqual(execs.first?["exe"] as? String, "/usr/bin/echo")
        XCTAssertEqual(execs.first?["argv"] as? [String], ["echo", "hello"], "argv[0] as typed, not the path found")
    }

    /// `-o FILE`: events in the file, the command's standard output untouched.
    func testOutputFileLeavesTheCommandsStandardOutputAlone() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for flag in ["-o", "--output"] {
            let started = try start(["trace", "-q", "--json", flag, dir + "/events.jsonl", "--", "/bin/sh", "-c", "echo hello; cat /etc/hostname >/dev/null"], in: dir)
            started.process.waitUntilExit()
            XCTAssertEqual(started.process.terminationStatus, 0, started.stderr)
            XCTAssertEqual(started.stdout, "hello\n")
            let events = try jsonLines(try String(contentsOfFile: dir + "/events.jsonl", encoding: .utf8))
            XCTAssertTrue(events.contains { $0["path"] as? String == "/etc/hostname" }, "\(events.suffix(3))")
        }
        let bad = try start(["trace", "-o", "/nonexistent-dir/events", "--", "/bin/true"], in: dir)
        bad.process.waitUntilExit()
        XCTAssertEqual(bad.process.terminationStatus, 1)
        XCTAssertEqual(bad.stderr, "probity: -o /nonexistent-dir/events: No such file or directory\n")
    }

    /// A missing command is named, with the shell's status, before the probes load.
    func testMissingCommandIsNamedWithStatus127() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for arguments in [["trace", "--"], ["run", "--report", dir + "/report", "--"], ["learn", "-o", dir + "/learned.yaml", "--"]] {
            let started = try start(arguments + ["nosuchcmd-probity"], in: dir)
            started.process.waitUntilExit()
            XCTAssertEqual(started.process.terminationStatus, 127, "\(arguments)")
            XCTAssertEqual(started.stderr, "probity: nosuchcmd-probity: command not found\n", "\(arguments)")
        }
        FileManager.default.createFile(atPath: dir + "/script", contents: Data("#!/bin/sh\n".utf8), attributes: [.posixPermissions: 0o644])
        let denied = try start(["trace", "--", dir + "/script"], in: dir)
        denied.process.waitUntilExit()
        XCTAssertEqual(denied.process.terminationStatus, 126)
        XCTAssertEqual(denied.stderr, "probity: \(dir)/script: Permission denied\n")
    }

    /// Ctrl-C at a terminal (SIGINT to the whole group): the final summary, then 130.
    func testInterruptToTheGroupPrintsTheSummaryAndExits130() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let started = try start(["trace", "-o", dir + "/events", "--", "sleep", "30"], in: dir, group: true)
        waitFor("hooks attached", in: started)
        usleep(500_000)
        XCTAssertEqual(kill(-started.process.processIdentifier, SIGINT), 0)
        let sent = Date()
        started.process.waitUntilExit()
        XCTAssertLessThan(Date().timeIntervalSince(sent), 10)
        XCTAssertEqual(started.process.terminationReason, .exit)
        XCTAssertEqual(started.process.terminationStatus, 130, started.stderr)
        XCTAssertTrue(started.stderr.contains("events: "), started.stderr)
        XCTAssertTrue(started.stderr.contains("lost: 0"), started.stderr)
    }

    /// SIGINT or SIGTERM to probity alone is passed on to the command; the summary follows.
    func testSignalToProbityAloneIsPassedOnToTheCommand() throws {
        for (signal, status) in [(SIGINT, Int32(130)), (SIGTERM, Int32(143))] {
            let dir = try Kernel.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let started = try start(["trace", "--json", "-o", dir + "/events", "--", "sleep", "30"], in: dir)
            waitFor("hooks attached", in: started)
            usleep(500_000)
            XCTAssertEqual(kill(started.process.processIdentifier, signal), 0)
            let sent = Date()
            started.process.waitUntilExit()
            XCTAssertLessThan(Date().timeIntervalSince(sent), 10)
            XCTAssertEqual(started.process.terminationReason, .exit, "probity is not killed by signal \(signal)")
            XCTAssertEqual(started.process.terminationStatus, status, started.stderr)
            XCTAssertTrue(started.stderr.contains("events: "), started.stderr)
            let events = try jsonLines(try String(contentsOfFile: dir + "/events", encoding: .utf8))
            XCTAssertTrue(events.contains { $0["kind"] as? String == "exit" && $0["signal"] != nil }, "\(events.suffix(2))")
        }
    }

    /// `--pid N` ends by itself once N and every descendant (here one that outlives N) exited.
    func testTraceByPIDEndsWhenTheTreeHasExited() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let target = try GatedChildProcess([
            "/bin/sh", "-c", "while [ ! -e \(dir)/go ]; do sleep 0.05; done; sleep 1.5 & exit 0",
        ])
        defer { target.stop() }
        let started = try start(["trace", "--json", "--pid", "\(target.pid)"], in: dir)
        waitFor("hooks attached", in: started)
        XCTAssertTrue(started.stderr.contains("hooks attached"), started.stderr)
        FileManager.default.createFile(atPath: dir + "/go", contents: nil)
        target.waitForExit()
        let targetExited = Date()
        let deadline = Date().addingTimeInterval(15)
        while started.process.isRunning && Date() < deadline { usleep(50_000) }
        XCTAssertFalse(started.process.isRunning, "the trace ends with the tree")
        if started.process.isRunning { started.process.interrupt(); started.process.waitUntilExit() }
        XCTAssertGreaterThan(Date().timeIntervalSince(targetExited), 1.0, "not before the background sleep exited")
        XCTAssertEqual(started.process.terminationStatus, 0, started.stderr)
        let events = try jsonLines(started.stdout)
        let sleep = try XCTUnwrap(events.first { $0["kind"] as? String == "exec" && $0["exe"] as? String == "/usr/bin/sleep" })
        XCTAssertTrue(events.contains { $0["kind"] as? String == "exit" && $0["pid"] as? Int == sleep["pid"] as? Int }, "the descendant's exit is in the trace")
        XCTAssertTrue(started.stderr.contains("events: "), started.stderr)
    }
}

/// A plain child process (not traced by these tests' harness), for `--pid`.
final class GatedChildProcess {
    let process = Process()
    var pid: Int32 { process.processIdentifier }

    init(_ command: [String]) throws {
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        try process.run()
    }

    func waitForExit() { process.waitUntilExit() }
    func stop() { if process.isRunning { process.terminate() } }
}
