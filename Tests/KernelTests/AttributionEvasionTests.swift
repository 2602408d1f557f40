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
    private func probity(_ arguments: [String], environment: [String: String]) throws -> ProbityCommand.Finished {
        try ProbityCommand.run(arguments, environment: environment)
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

    /// `venv/bin/python -m helper` (a module of a distribution installed in the venv) reading
    /// another process's environment is charged to that distribution, not to nobody: the module is
    /// found in the interpreter's own site-packages, named by how it was started.
    func testVenvModuleIsChargedToItsDistribution() throws {
        let dir = try Kernel.temporaryDirectory()
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        let work = dir + "/work"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        // A venv with one distribution installed as pip leaves it: the package, and a dist-info
        // whose RECORD lists its files.
        let setup = try Kernel.output("/bin/sh", ["-c", """
            set -e
            cd "$0"
            python3 -m venv --without-pip venv
            site=$(venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
            mkdir -p "$site/probe_helper" "$site/probe_helper-0.3.0.dist-info"
            : > "$site/probe_helper/__init__.py"
            cat > "$site/probe_helper/__main__.py" <<'PY'
            import os
            open("/proc/%d/environ" % os.getppid(), "rb").read()
            PY
            printf 'Metadata-Version: 2.1\\nName: probe-helper\\nVersion: 0.3.0\\n' > "$site/probe_helper-0.3.0.dist-info/METADATA"
            printf 'pip\\n' > "$site/probe_helper-0.3.0.dist-info/INSTALLER"
            printf 'probe_helper/__init__.py,,\\nprobe_helper/__main__.py,,\\nprobe_helper-0.3.0.dist-info/METADATA,,\\nprobe_helper-0.3.0.dist-info/RECORD,,\\n' \\
                > "$site/probe_helper-0.3.0.dist-info/RECORD"
            """, work], mergeErrors: true)
        XCTAssertEqual(setup.status, 0, setup.text)
        let run = try ProbityCommand.run(["run", "--report", dir + "/r", "--", work + "/venv/bin/python", "-m", "probe_helper"], directory: work)
        XCTAssertEqual(run.status, 86, run.stderr)
        let list = try ProbityCommand.violations(dir + "/r").list
        let reads = list.filter { $0["rule"] as? String == "process-memory-read" }
        XCTAssertEqual(reads.count, 1, "\(list)")
        let charged = reads.first?["package"] as? [String: Any]
        XCTAssertEqual(charged?["name"] as? String, "probe-helper", "\(reads)")
        XCTAssertEqual(charged?["version"] as? String, "0.3.0", "\(reads)")
    }
}
