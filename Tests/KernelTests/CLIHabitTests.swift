#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbityEvents
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
    func run(_ arguments: [String], program: String? = nil, directory: String? = nil, environment: [String: String] = [:]) throws -> Result {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try program ?? Kernel.probityBinary().path)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
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

    /// `probity policy check` on `yaml`, written to a file of a temporary directory (removed after).
    func policyCheck(_ yaml: String) throws -> (file: String, out: Result) {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/policy.yaml"
        write(yaml, to: file)
        return (file, try run(["policy", "check", file]))
    }

    /// Three problems in three rules: three `file:line:column:` lines, status 1, no `ok`.
    func testPolicyCheckReportsEveryProblem() throws {
        let (file, out) = try policyCheck("""
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
            """)
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

    // MARK: item 4: policy check

    /// Problems of a file and of names and inheritance across files are reported together,
    /// each with file:line:column (before, the unknown `extends` appeared only once the other
    /// problems were fixed).
    func testPolicyCheckReportsFileAndInheritanceProblemsTogether() throws {
        let (file, out) = try policyCheck("""
            contracts:
              - name: mine
                match: {name: left-pad}
                extends: nosuch
                rules:
                  - id: one
                    severity: fatal
                    exec: none
              - name: other
                match: default
                rules:
                  - id: two
                    exec: none
                  - id: two
                    exec: none
              - name: broken
                match: everything
              - name: heir
                match: {name: x}
                extends: broken
            """)
        XCTAssertEqual(out.status, 1)
        XCTAssertEqual(out.stdout, "")
        XCTAssertEqual(out.stderr, """
            \(file):7:19: unknown severity `fatal` (expected low, medium, high or critical)
            \(file):14:9: rule id `two` is used twice in contract `other` (first at \(file):12:9)
            \(file):17:12: `match` is `default`, `unattributed`, `workspace` or a mapping (purl, name, ecosystem, source, standing)
            \(file):2:5: contract `mine` extends `nosuch`, which is not defined
            probity: 4 problems found

            """)
    }

    /// The spellings the docs and the built-in policy use are accepted: `deny`/`allow` as well as
    /// true/false.
    func testPolicyCheckAcceptsTheDocumentedSpellings() throws {
        let (file, out) = try policyCheck("""
            contracts:
              - name: a
                match: default
                rules:
                  - id: s
                    secrets: {credentials: deny, process-memory: allow}
                  - id: p
                    process: {outlive: true, daemonize: deny}
            """)
        XCTAssertEqual(out.status, 0, out.stderr)
        XCTAssertEqual(out.stdout, "\(file): ok (1 contract, 2 rules)\n")
    }

    // MARK: item 8: sbom diff

    private func cycloneDX(_ components: [(String, String, String)]) -> String {
        let list = components.map { #"{"name":"\#($0.0)","version":"\#($0.1)","purl":"\#($0.2)"}"# }
        return #"{"bomFormat":"CycloneDX","specVersion":"1.6","components":[\#(list.joined(separator: ","))]}"#
    }

    /// One package spelt two ways is one package; the ecosystem is shown; `--json` gives objects;
    /// counts are proper English.
    func testSBOMDiffComparesCanonicalPurlsAndShowsEcosystems() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        write(cycloneDX([
            ("libstdc++6", "12.2.0-14", "pkg:deb/debian/libstdc++6@12.2.0-14?arch=amd64"),
            ("requests", "2.31.0", "pkg:pypi/requests@2.31.0"),
        ]), to: dir + "/old.json")
        write(cycloneDX([
            ("libstdc++6", "12.2.0-14", "pkg:deb/debian/libstdc%2B%2B6@12.2.0-14?arch=amd64"),
            ("requests", "2.32.0", "pkg:pypi/Requests@2.32.0"),
            ("core", "17.0.0", "pkg:npm/%40angular/core@17.0.0"),
        ]), to: dir + "/new.json")
        let text = try run(["sbom", "diff", dir + "/old.json", dir + "/new.json"])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertEqual(text.stdout, """
            + core 17.0.0 (npm)
            ~ requests 2.31.0 -> 2.32.0 (pypi)
            1 added (0 transitive), 0 removed, 1 changed, 0 file hashes changed

            """)
        let json = try run(["sbom", "diff", "--json", dir + "/old.json", dir + "/new.json"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let added = try XCTUnwrap(object["added"] as? [[String: Any]])
        XCTAssertEqual(added.count, 1)
        XCTAssertEqual(added.first?["name"] as? String, "core")
        XCTAssertEqual(added.first?["version"] as? String, "17.0.0")
        XCTAssertEqual(added.first?["ecosystem"] as? String, "npm")
        XCTAssertEqual(added.first?["purl"] as? String, "pkg:npm/%40angular/core@17.0.0")
        let changed = try XCTUnwrap((object["changed"] as? [[String: Any]])?.first)
        XCTAssertEqual((changed["old"] as? [String: Any])?["version"] as? String, "2.31.0")
        XCTAssertEqual((changed["new"] as? [String: Any])?["purl"] as? String, "pkg:pypi/requests@2.32.0")
        XCTAssertEqual((object["removed"] as? [Any])?.count, 0)
    }

    /// Hostile purls (overlong, bad escapes, NUL) are compared as written with a warning; the
    /// command neither crashes nor fails.
    func testSBOMDiffWarnsAboutHostilePurls() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let long = "pkg:npm/" + String(repeating: "a", count: 10_000)
        write(cycloneDX([("long", "1", long), ("bad", "1", "pkg:npm/bad%zz@1"), ("nul", "1", "pkg:npm/n%00l@1")]), to: dir + "/old.json")
        write(cycloneDX([("long", "1", long), ("bad", "2", "pkg:npm/bad%zz@2"), ("nul", "1", "pkg:npm/n\\u0000l@1")]), to: dir + "/new.json")
        let out = try run(["sbom", "diff", dir + "/old.json", dir + "/new.json"])
        XCTAssertEqual(out.status, 0, out.stderr)
        let warnings = out.stderr.split(separator: "\n")
        XCTAssertEqual(warnings.count, 6, out.stderr)
        XCTAssertTrue(warnings.allSatisfy { $0.hasPrefix("probity: warning: ") && $0.hasSuffix(": compared as written") && $0.count < 300 }, out.stderr)
        XCTAssertTrue(out.stderr.contains("too long (10008 bytes; at most 4096)"), out.stderr)
        XCTAssertTrue(out.stderr.contains("%00 (NUL) in the namespace or name"), out.stderr)
        XCTAssertTrue(out.stderr.contains("control character 0x0 at byte 10"), out.stderr)
        // `bad` and `nul` are spelt differently on each side: compared as written, they differ.
        XCTAssertEqual(out.stdout, "+ bad 2\n+ nul 1\n- bad 1\n- nul 1\n2 added (0 transitive), 2 removed, 0 changed, 0 file hashes changed\n")
        XCTAssertFalse(out.stdout.contains("\u{0}"), "the NUL is not printed")
    }

    // MARK: item 9: conventions

    /// `--version` on both binaries says the version the SARIF report gives.
    func testVersionOnBothBinaries() throws {
        for program in [try Kernel.probityBinary().path, try probityd] {
            let out = try run(["--version"], program: program)
            XCTAssertEqual(out.status, 0, out.stderr)
            XCTAssertEqual(out.stdout, ProbityVersion.string + "\n")
        }
    }

    /// Every command's help has an example, and options with defaults say them.
    func testEveryHelpHasAnExample() throws {
        let commands: [[String]] = [
            [], ["trace"], ["run"], ["learn"], ["policy"], ["policy", "check"], ["status"], ["violations"], ["follow"], ["reload"],
            ["whose"], ["sbom"], ["sbom", "inspect"], ["sbom", "diff"],
        ]
        for command in commands {
            let out = try run(command + ["--help"])
            XCTAssertEqual(out.status, 0, "\(command): \(out.stderr)")
            XCTAssertTrue(out.stdout.contains("Examples:\n  "), "\(command) --help has no example")
            // Each example is one line: none is wrapped (at 80 columns).
            let examples = out.stdout.components(separatedBy: "Examples:\n").dropFirst().first?.components(separatedBy: "\n\n").first ?? ""
            for line in examples.split(separator: "\n") {
                XCTAssertTrue(line.hasPrefix("  "), "\(command): a wrapped example: \(line)")
            }
        }
        /// The help with its wrapping undone.
        func unwrapped(_ text: String) -> String { text.split(whereSeparator: \.isWhitespace).joined(separator: " ") }
        let daemon = try run(["--help"], program: try probityd)
        XCTAssertTrue(daemon.stdout.contains("Examples:\n  "), daemon.stdout)
        for option in ["config", "socket", "state-dir"] {
            let help = unwrapped(daemon.stdout.components(separatedBy: "  --\(option) <").last ?? "")
            XCTAssertTrue(help.prefix(300).contains("(default: /"), "--\(option): \(help.prefix(300))")
        }
        for command in ["violations", "follow"] {
            let help = unwrapped(try run([command, "--help"]).stdout)
            XCTAssertTrue(help.contains("--severity <severity> At least this severity: low, medium, high or critical. (default: all)"), help)
        }
        XCTAssertTrue(try run(["--help"]).stdout.contains("--generate-completion-script"), "completion is documented")
    }

    /// `run -q` still prints each violation (it says it prints violations and the verdict).
    func testRunQuietPrintsViolations() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        write("""
            contracts:
              - name: everyone
                match: default
                rules:
                  - id: no-id
                    severity: medium
                    exec: {deny: [/usr/bin/id]}
            """, to: dir + "/p.yaml")
        let out = try run(["run", "-q", "--policy", dir + "/p.yaml", "--report", dir + "/r", "--", "/bin/sh", "-c", "/usr/bin/id"])
        XCTAssertEqual(out.status, 86, out.stderr)
        XCTAssertTrue(out.stderr.contains("probity: VIOLATION medium "), out.stderr)
        XCTAssertTrue(out.stderr.contains("everyone/no-id"), out.stderr)
        XCTAssertFalse(out.stderr.contains("hooks"), "still quiet: \(out.stderr)")
        XCTAssertTrue(out.stderr.contains("1 violation (1 distinct); reports in \(dir)/r/"), out.stderr)
    }

    /// `learn` says where it wrote the run's reports, not only the learnt contracts.
    func testLearnSaysWhereTheReportsGo() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = try run(["learn", "-q", "-o", dir + "/learned.yaml", "--report", dir + "/r", "--", "/bin/true"], directory: dir)
        XCTAssertEqual(out.status, 0, out.stderr)
        XCTAssertTrue(out.stderr.contains("written to \(dir)/learned.yaml; reports in \(dir)/r/"), out.stderr)
        XCTAssertTrue(out.stderr.contains("(0 findings)"), out.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/r/violations.json"))
    }

    // MARK: learnt contracts

    /// A learnt file with nothing to add still extends the built-in contracts (its `base:`): run
    /// with it alone, a credential read is a violation. With `--replace-builtin` it holds no rule,
    /// and a run with no rule refuses to call itself a pass.
    func testLearntContractsExtendTheBuiltInOnesAndZeroRulesIsNoPass() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let learnt = dir + "/learned.yaml"
        let learn = try run(["learn", "-q", "-o", learnt, "--report", dir + "/r0", "--", "/bin/true"], directory: dir)
        XCTAssertEqual(learn.status, 0, learn.stderr)
        let text = try String(contentsOfFile: learnt, encoding: .utf8)
        XCTAssertTrue(text.contains("base: [builtin]"), text)

        let key = dir + "/home/.ssh/id_rsa"
        try FileManager.default.createDirectory(atPath: dir + "/home/.ssh", withIntermediateDirectories: true)
        write("key", to: key)
        // {home} is the command's user's: here the current user, with HOME set.
        let reader = ["/usr/bin/env", "python3", "-c", "open('\(key)').read()"]
        let judged = try run(["run", "-q", "--policy", learnt, "--report", dir + "/r1", "--"] + reader, directory: dir,
                             environment: ["HOME": dir + "/home"])
        XCTAssertEqual(judged.status, 86, "the built-in credential-read came with the learnt file: \(judged.stderr)")
        XCTAssertTrue(judged.stderr.contains("credential-read"), judged.stderr)
        let check = try run(["policy", "check", learnt])
        XCTAssertEqual(check.status, 0, check.stderr)
        XCTAssertTrue(check.stdout.contains("together: ok"), "checked with its base, as run loads it: \(check.stdout)")

        let alone = try run(["run", "-q", "--replace-builtin", "--policy", learnt, "--report", dir + "/r2", "--"] + reader, directory: dir,
                            environment: ["HOME": dir + "/home"])
        XCTAssertNotEqual(alone.status, 0, "no rule: no pass")
        XCTAssertTrue(alone.stderr.contains("no rule: nothing would be judged"), alone.stderr)
        write("contracts: []\n", to: dir + "/empty.yaml")
        let empty = try run(["run", "-q", "--policy", dir + "/empty.yaml", "--report", dir + "/r3", "--", "/bin/true"], directory: dir)
        XCTAssertNotEqual(empty.status, 0, "no rule: no pass, even for a command that does nothing")
        XCTAssertTrue(empty.stderr.contains("\(dir)/empty.yaml: "), empty.stderr)

        // A base that names itself, or a missing file: an error naming the file, not a loop.
        write("base: [loop.yaml]\ncontracts: []\n", to: dir + "/loop.yaml")
        let loop = try run(["policy", "check", dir + "/loop.yaml"])
        XCTAssertEqual(loop.status, 1, "itself only: no rule, but no loop either: \(loop.stdout)\(loop.stderr)")
        XCTAssertTrue(loop.stderr.contains("no rule"), loop.stderr)
        write("base: [missing.yaml]\ncontracts: []\n", to: dir + "/broken.yaml")
        let broken = try run(["run", "-q", "--policy", dir + "/broken.yaml", "--report", dir + "/r4", "--", "/bin/true"], directory: dir)
        XCTAssertNotEqual(broken.status, 0)
        XCTAssertTrue(broken.stderr.contains("\(dir)/missing.yaml"), broken.stderr)
    }

    // MARK: secrets on command lines

    /// A token passed on a command line is in no report, no event and no store: masked where
    /// argv enters Probity, with the flag that carried it kept as evidence.
    func testTokensOnCommandLinesAreRedactedEverywhere() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let key = dir + "/home/.ssh/id_rsa"
        try FileManager.default.createDirectory(atPath: dir + "/home/.ssh", withIntermediateDirectories: true)
        write("key", to: key)
        let token = "ghp_" + String(repeating: "Zx9", count: 12)
        let out = try run([
            "run", "--report", dir + "/r", "--", "/usr/bin/env", "python3", "-c", "import sys; open('\(key)').read()",
            "--token", "hunter2-secret", "--password=hunter3-secret", token, "Authorization: Bearer hunter4-secret",
        ], directory: dir, environment: ["HOME": dir + "/home"])
        XCTAssertEqual(out.status, 86, out.stderr)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/r")
        XCTAssertTrue(files.contains("events.jsonl") && files.contains("summary.md") && files.contains("violations.json"), "\(files)")
        for file in files {
            let text = try String(contentsOfFile: dir + "/r/" + file, encoding: .utf8)
            for secret in ["hunter2-secret", "hunter3-secret", "hunter4-secret", token] {
                XCTAssertFalse(text.contains(secret), "\(secret) in \(file)")
            }
        }
        XCTAssertFalse(out.stderr.contains("hunter"), out.stderr)
        let violations = try String(contentsOfFile: dir + "/r/violations.json", encoding: .utf8)
        XCTAssertTrue(violations.contains("\"--token\",\n") || violations.contains("\"--token\""), violations)
        XCTAssertTrue(violations.contains("--password=***") && violations.contains("ghp_***") && violations.contains("Bearer ***"), violations)
    }
}
