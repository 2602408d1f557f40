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
