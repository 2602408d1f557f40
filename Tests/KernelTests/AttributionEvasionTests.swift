#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbityMonitor
import XCTest

/// `probity run` on the real kernel against the ways code walks around attribution: a
/// re-parented double fork with a cleared environment in `/`, an interpreter running a script no
/// package owns, a distribution tool (`cp`) run by the command. Each reads a planted SSH key and
/// must be a `credential-read` violation charged to the workspace (no package, reason
/// `workspace`) under the default contract, never passed by the `system` contract.
final class AttributionEvasionTests: XCTestCase {
    private struct Finished {
        var status: Int32
        var stderr: String
    }

    /// Runs probity with fork/exec and waitpid (as RunCommandTests does: Foundation's `Process`
    /// would wait for survivors holding a leaked descriptor).
    private func probity(_ arguments: [String], environment: [String: String]) throws -> Finished {
        let errPath = NSTemporaryDirectory() + "probity-evasion-stderr-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: errPath) }
        let assignments = environment.map { "\($0.key)=\($0.value)" } + ["PROBITY_TEST_STDERR=\(errPath)"]
        let child = try GatedChild(command: ["/usr/bin/env"] + assignments + [
            "/bin/sh", "-c", "exec \"$0\" \"$@\" >/dev/null 2>\"$PROBITY_TEST_STDERR\"",
            try Kernel.probityBinary().path,
        ] + arguments)
        child.release()
        let status = GatedChild.exitCode(fromWaitStatus: child.wait())
        let data = FileManager.default.contents(atPath: errPath) ?? Data()
        return Finished(status: status, stderr: String(decoding: data, as: UTF8.self))
    }

    /// A temporary HOME with `.ssh/id_rsa` and a directory of scripts no package owns.
    private func setUpHome() throws -> (dir: String, home: String, key: String) {
        let dir = try Kernel.temporaryDirectory()
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        let home = dir + "/home"
        try FileManager.default.createDirectory(atPath: home + "/.ssh", withIntermediateDirectories: true)
        try "-----BEGIN OPENSSH PRIVATE KEY----- (test)\n".write(toFile: home + "/.ssh/id_rsa", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: dir + "/scripts", withIntermediateDirectories: true)
        return (dir, home, home + "/.ssh/id_rsa")
    }

    /// Runs `command` under `probity run` with HOME set; asserts status 86 and a credential-read
    /// of `key` charged to the workspace by the default contract.
    private func assertWorkspaceReadsKey(
        _ command: [String], home: String, key: String, report: String, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let run = try probity(["run", "--report", report, "--"] + command, environment: ["HOME": home])
        XCTAssertEqual(run.status, 86, "\(command): \(run.stderr)", file: file, line: line)
        let data = try Data(contentsOf: URL(fileURLWithPath: report + "/violations.json"))
        let document = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any], file: file, line: line)
        let list = try XCTUnwrap(document["violations"] as? [[String: Any]], file: file, line: line)
        XCTAssertEqual(document["passed"] as? Bool, false, file: file, line: line)
        let reads = list.filter {
            $0["rule"] as? String == "credential-read" && ($0["evidence"] as? [String: Any])?["path"] as? String == key
        }
        XCTAssertEqual(reads.count, 1, "\(command): one credential-read of the key in \(list)\n\(run.stderr)", file: file, line: line)
        for v in reads {
            XCTAssertTrue(v["package"] == nil || v["package"] is NSNull, "charged to no package: \(v)", file: file, line: line)
            let attribution = v["attribution"] as? [String: Any]
            XCTAssertEqual(attribution?["reason"] as? String, "workspace", "\(v)", file: file, line: line)
            XCTAssertEqual(v["contract"] as? String, "default", "judged by the default contract, not system: \(v)", file: file, line: line)
        }
    }

    /// The reader is re-parented to init, has an empty environment and works in `/`; the inner
    /// shell exits at once and the outer one keeps the run open until the read is over.
    func testReparentedDoubleForkWithClearedEnvironment() throws {
        let (dir, home, key) = try setUpHome()
        let inner = "(cd /; sleep 0.3; env -i /bin/cat \"$HOME/.ssh/id_rsa\" >/dev/null) & exit 0"
        try assertWorkspaceReadsKey(
            ["/bin/sh", "-c", "/bin/sh -c '\(inner)'; sleep 1"], home: home, key: key, report: dir + "/r")
    }

    /// Interpreters from the distribution running scripts no package owns.
    func testInterpretersRunningUnownedScripts() throws {
        let (dir, home, key) = try setUpHome()
        let scripts = dir + "/scripts"
        try "require('fs').readFileSync(require('os').homedir() + '/.ssh/id_rsa')\n"
            .write(toFile: scripts + "/steal.js", atomically: true, encoding: .utf8)
        try "read -r line < \"$HOME/.ssh/id_rsa\"\n".write(toFile: scripts + "/steal.sh", atomically: true, encoding: .utf8)
        try "import os\nopen(os.path.expanduser('~/.ssh/id_rsa')).read()\n"
            .write(toFile: scripts + "/steal.py", atomically: true, encoding: .utf8)
        try assertWorkspaceReadsKey(["node", scripts + "/steal.js"], home: home, key: key, report: dir + "/node")
        try assertWorkspaceReadsKey(["bash", scripts + "/steal.sh"], home: home, key: key, report: dir + "/bash")
        try assertWorkspaceReadsKey(["/usr/bin/python3", scripts + "/steal.py"], home: home, key: key, report: dir + "/python")
    }

    /// A distribution tool run by the command: `cp` is coreutils', and acts for the workspace.
    func testDistributionToolRunByTheCommand() throws {
        let (dir, home, key) = try setUpHome()
        try assertWorkspaceReadsKey(
            ["bash", "-c", "cp \"$HOME/.ssh/id_rsa\" \(dir)/copied"], home: home, key: key, report: dir + "/r")
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/copied"), "audit mode: the copy happened")
    }
}
