import ProbityAttribution
import ProbityContracts
import ProbitySinks
import XCTest

/// summary.md reads as plain sentences, and a long command line is shown shortened, once per
/// place, not repeated whole (violations.json keeps it whole).
final class SummaryWordingTests: XCTestCase {
    func report(argv: [String], package: InstalledPackage?, reason: String) -> RunReport {
        var evidence = Evidence(operation: "open")
        evidence.path = "/home/u/.ssh/id_rsa"
        evidence.access = ["read"]
        let violation = Violation(
            time: "2026-01-01T00:00:00.000000000Z", bootTimeNanoseconds: 1, contract: "default", rule: "credential-read",
            category: "secrets", severity: .critical, action: .kill, enforced: false, enforcement: nil,
            message: "read a credential file (/home/u/.ssh/id_rsa)", package: package.map(PackageReference.init),
            attribution: AttributionReference(reason: reason, evidence: "npm_package_name=evil-hook"),
            processes: [
                ProcessLink(pid: 9, executable: "/usr/bin/node", argv: argv),
                ProcessLink(pid: 8, executable: "/usr/bin/sh", argv: ["sh", "-c", "node steal.js"]),
                ProcessLink(pid: 7, executable: "/usr/bin/npm", argv: argv),
            ],
            evidence: evidence, ruleLocation: "(built-in) policies/default.yaml:13:9", count: 1)
        return RunReport(
            command: argv, commandStatus: 0, mode: "audit", startTime: "2026-01-01T00:00:00Z", durationSeconds: 1,
            policyFiles: ["builtin"], eventCounts: ["open": 3], lostEvents: 0, violations: [violation], failures: ["1 contract violation"])
    }

    func testAViolationReadsAsASentence() {
        let evil = InstalledPackage(name: "evil-hook", version: "1.0.0", ecosystem: "npm", source: .npm)
        let summary = MarkdownSummary.text(report(argv: ["npm", "install"], package: evil, reason: "npm-lifecycle"))
        XCTAssertTrue(summary.contains("- **evil-hook@1.0.0** read /home/u/.ssh/id\\_rsa — `default/credential-read` (critical)"), summary)
        XCTAssertTrue(summary.contains("charged to evil-hook@1.0.0: npm ran one of the package's lifecycle scripts (npm\\_package\\_name=evil-hook)"), summary)
        XCTAssertFalse(summary.contains("broke"), summary)
        XCTAssertFalse(summary.contains("attributed by"), summary)
        let workspace = MarkdownSummary.text(report(argv: ["make"], package: nil, reason: "workspace"))
        XCTAssertTrue(workspace.contains("- **the workspace** read"), workspace)
        let nobody = MarkdownSummary.text(report(argv: ["x"], package: nil, reason: "unattributed"))
        XCTAssertTrue(nobody.contains("- **unattributed code** read"), nobody)
        XCTAssertFalse(nobody.contains("**unattributed** "), nobody)
    }

    func testALongArgvIsShortenedNotRepeated() {
        let huge = String(repeating: "A", count: 4096)
        let argv = ["npm", "install", huge, "--tail-marker"]
        let summary = MarkdownSummary.text(report(argv: argv, package: nil, reason: "workspace"))
        XCTAssertLessThan(summary.utf8.count, 3000, "a 4 KB argument does not make a 17 KB summary")
        XCTAssertFalse(summary.contains(String(repeating: "A", count: 100)), "shown shortened")
        XCTAssertTrue(summary.contains("…"), summary)
        XCTAssertTrue(summary.split(separator: "\n").allSatisfy { $0.count < 1000 }, "no line of thousands of characters")
        let json = String(decoding: ReportWriter.violationsJSON(report(argv: argv, package: nil, reason: "workspace")), as: UTF8.self)
        XCTAssertTrue(json.contains(huge), "violations.json keeps the argv whole")
    }
}
