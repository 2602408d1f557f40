#if canImport(Glibc)
import Glibc
#endif
import Foundation
import XCTest

/// The `probity` binary as a newcomer meets it: `policy check`, `whose` and error messages that
/// name the thing and the reason (issue 13).
final class CLIHabitTests: XCTestCase {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `program` (the built probity by default) to its end, standard output and error apart.
    func run(_ arguments: [String], program: String? = nil, directory: String? = nil) throws -> Result {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try program ?? Kernel.probityBinary().path)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        FileManager.default.createFile(atPath: dir + "/out", contents: nil)
        FileManager.default.createFile(atPath: dir + "/err", contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/out"))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/err"))
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus,
            stdout: try String(contentsOfFile: dir + "/out", encoding: .utf8),
            stderr: try String(contentsOfFile: dir + "/err", encoding: .utf8))
    }

    private func write(_ text: String, to path: String) {
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
    }

    // MARK: policy check

    /// Three problems in three rules: three `file:line:column:` lines, status 1, no `ok`.
    func testPolicyCheckReportsEveryProblem() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/three.yaml"
        write("""
            contracts:
              - name: a
                match: default
                rules:
                  - id: one
                    exec: none
                  - id: two
                    severity: fatal
                    exec: none
                  - id: three
                    secrets: {credentials: denyy}
                  - id: one
                    exec: none
                  - id: four
                    netwerk: none
            """, to: file)
        let out = try run(["policy", "check", file])
        XCTAssertEqual(out.status, 1)
        XCTAssertEqual(out.stdout, "", "no ok line")
        let lines = out.stderr.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 5, out.stderr)
        guard lines.count == 5 else { return }
        XCTAssertEqual(lines[0], "\(file):8:19: unknown severity `fatal` (expected low, medium, high or critical)")
        XCTAssertEqual(lines[1], "\(file):11:32: `credentials` is deny or allow (or true or false), not `denyy`")
        XCTAssertEqual(lines[2], "\(file):12:9: rule id `one` is used twice in contract `a` (first at \(file):5:9)")
        XCTAssertTrue(lines[3].hasPrefix("\(file):15:9: unknown key `netwerk` in a rule"), lines[3])
        XCTAssertEqual(lines[4], "probity: 4 problems found")
    }

    /// A contract that extends one that is not defined: only the error, status 1.
    func testPolicyCheckUnknownExtendsGivesOnlyTheError() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/extends.yaml"
        write("contracts:\n  - name: mine\n    match: {name: left-pad}\n    extends: nosuch\n    rules: []\n", to: file)
        let out = try run(["policy", "check", file])
        XCTAssertEqual(out.status, 1)
        XCTAssertEqual(out.stdout, "")
        XCTAssertEqual(out.stderr, "\(file):2:5: contract `mine` extends `nosuch`, which is not defined\nprobity: 1 problem found\n")
        // Twice the same contract name in one file.
        write("contracts:\n  - name: a\n    match: default\n  - name: a\n    match: {name: x}\n", to: file)
        let twice = try run(["policy", "check", file])
        XCTAssertEqual(twice.status, 1)
        XCTAssertTrue(twice.stderr.hasPrefix("\(file):4:5: contract `a` is defined twice (first at \(file):2:5)"), twice.stderr)
    }

    /// Without a file: says it checks the built-in policy, and counts rules as `run` does.
    func testPolicyCheckBuiltInCountsLikeRun() throws {
        let out = try run(["policy", "check"])
        XCTAssertEqual(out.status, 0, out.stderr)
        XCTAssertEqual(out.stderr, "probity: no file given: checking the built-in policy\n")
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let run = try self.run(["run", "--report", dir + "/report", "--", "/bin/true"])
        XCTAssertEqual(run.status, 0, run.stderr)
        // run: "probity: 3 contracts, 14 rules from (built-in) policies/default.yaml"
        let counted = try XCTUnwrap(run.stderr.split(separator: "\n").first { $0.contains(" rules from ") })
        let numbers = counted.split(separator: " ").compactMap { Int($0) }
        XCTAssertEqual(numbers.count, 2, String(counted))
        XCTAssertEqual(out.stdout, "(built-in) policies/default.yaml: ok (\(numbers[0]) contracts, \(numbers[1]) rules)\n")
    }

    // MARK: whose

    func testWhoseNormalisesPaths() throws {
        let plain = try run(["whose", "/usr/bin/ls"])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        let owner = try XCTUnwrap(plain.stdout.split(separator: ":").first.map(String.init), plain.stdout)
        XCTAssertEqual(plain.stdout, "\(owner): /usr/bin/ls\n")
        XCTAssertEqual(try run(["whose", "/usr/bin/../bin/ls"]).stdout, "\(owner): /usr/bin/ls\n")
        XCTAssertEqual(try run(["whose", "/usr/bin/./ls"]).stdout, "\(owner): /usr/bin/ls\n")
        XCTAssertEqual(try run(["whose", "ls"], directory: "/usr/bin").stdout, "\(owner): /usr/bin/ls\n")
        XCTAssertEqual(try run(["whose", "bin/ls"], directory: "/usr").stdout, "\(owner): /usr/bin/ls\n")
        XCTAssertEqual(try run(["whose", "../bin/ls"], directory: "/usr/lib").stdout, "\(owner): /usr/bin/ls\n")
    }

    /// A missing file and an unowned file get different answers; `--json` keeps both.
    func testWhoseTellsMissingFromUnownedAndKeepsEveryPathInJSON() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let unowned = dir + "/mine.txt"
        write("x", to: unowned)
        let missing = dir + "/nosuch"
        let text = try run(["whose", missing, unowned])
        XCTAssertEqual(text.status, 1)
        XCTAssertEqual(text.stdout, "")
        XCTAssertEqual(text.stderr, """
            probity: \(missing): No such file or directory (and no package lists it)
            probity: no package owns \(unowned)

            """)
        let json = try run(["whose", "--json", "/usr/bin/ls", missing, unowned])
        XCTAssertEqual(json.status, 1)
        let lines = try json.stdout.split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any], String($0))
        }
        XCTAssertEqual(lines.map { $0["path"] as? String }, ["/usr/bin/ls", missing, unowned])
        XCTAssertNotNil(lines[0]["package"] as? String)
        XCTAssertTrue(lines[1]["package"] is NSNull, "\(lines[1])")
        XCTAssertEqual(lines[1]["reason"] as? String, "no such file")
        XCTAssertTrue(lines[2]["package"] is NSNull, "\(lines[2])")
        XCTAssertEqual(lines[2]["reason"] as? String, "no package owns it")
    }

    // MARK: errors that say what and where

    private var probityd: String {
        get throws { try Kernel.probityBinary().deletingLastPathComponent().appendingPathComponent("probityd").path }
    }

    func testDaemonDirectoryErrorsGiveTheRealReason() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = dir + "/config.yaml"
        write("{}\n", to: config)
        let proc = try run(["--config", config, "--state-dir", "/proc/x", "--socket", dir + "/s"], program: probityd)
        XCTAssertEqual(proc.status, 1)
        XCTAssertEqual(proc.stderr, "probityd: cannot create /proc/x (the state directory): No such file or directory\n")
        write("x", to: dir + "/file")
        let file = try run(["--config", config, "--state-dir", dir + "/file/state", "--socket", dir + "/s"], program: probityd)
        XCTAssertEqual(file.status, 1)
        XCTAssertEqual(file.stderr, "probityd: cannot use \(dir)/file/state as the state directory: Not a directory\n")
        let socket = try run(["--config", config, "--state-dir", dir + "/state", "--socket", dir + "/nonexistent-dir/s"], program: probityd)
        XCTAssertEqual(socket.status, 1)
        XCTAssertEqual(socket.stderr, "probityd: cannot use \(dir)/nonexistent-dir as the socket's directory: No such file or directory\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/nonexistent-dir"), "not created")
    }

    func testRunReportDirectoryErrorGivesTheRealReason() throws {
        let out = try run(["run", "--report", "/proc/x", "--", "/bin/true"])
        XCTAssertEqual(out.status, 2)
        XCTAssertEqual(out.stderr, "probity: /proc/x: cannot create the report directory: No such file or directory\n")
    }

    func testSBOMInspectSaysWhyAFileCannotBeRead() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let secret = dir + "/secret.json"
        write("{}", to: secret)
        chmod(secret, 0o600)
        chmod(dir, 0o755)
        let cases: [(String, String)] = [
            (dir + "/nosuch.json", "cannot open: No such file or directory"),
            (dir, "is a directory, not a file"),
            ("/dev/null", "is empty (0 bytes): not an SBOM"),
        ]
        for (file, reason) in cases {
            let out = try run(["sbom", "inspect", file])
            XCTAssertEqual(out.status, 1)
            XCTAssertEqual(out.stderr, "probity: \(file): \(reason)\n")
        }
        let denied = try run(["--reuid=65534", "--regid=65534", "--clear-groups", try Kernel.probityBinary().path, "sbom", "inspect", secret], program: "/usr/bin/setpriv")
        XCTAssertEqual(denied.status, 1)
        XCTAssertEqual(denied.stderr, "probity: \(secret): cannot open: Permission denied\n")
    }

    /// A bad --severity is a usage error of the client (64), listing the values, with no daemon.
    func testBadSeverityIsAUsageError() throws {
        for command in ["violations", "follow"] {
            let out = try run([command, "--socket", "/nonexistent/probity.sock", "--severity", "bogus"])
            XCTAssertEqual(out.status, 64, out.stderr)
            XCTAssertTrue(out.stderr.contains("--severity bogus: expected one of low, medium, high, critical"), out.stderr)
        }
    }
}
