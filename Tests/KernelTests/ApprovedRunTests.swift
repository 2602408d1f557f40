#if canImport(Glibc)
import Glibc
#endif
import Foundation
import XCTest

/// `probity approve` then `probity run --approved`, on the real kernel: an unchanged approved tree
/// runs clean; a module edited after approval and then imported, a script changed and then run,
/// and a module dropped into the tree and loaded are each an `integrity` violation with the
/// digests as evidence; restoring the file restores the verdict.
final class ApprovedRunTests: XCTestCase {
    func testTheGateHoldsATreeToItsApprovedState() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let app = dir + "/app"
        try FileManager.default.createDirectory(atPath: app + "/lib", withIntermediateDirectories: true)
        let helper = app + "/lib/helper.py", script = app + "/tool.sh"
        let original = "def greet():\n    return 'hello'\n"
        try original.write(toFile: helper, atomically: true, encoding: .utf8)
        try "import sys\nsys.path.insert(0, '\(app)/lib')\nimport helper\nprint(helper.greet())\ntry:\n    import extra\nexcept ImportError:\n    pass\n"
            .write(toFile: app + "/main.py", atomically: true, encoding: .utf8)
        try "#!/bin/sh\necho tool\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)

        let approved = dir + "/app.cdx.json"
        let approve = try ProbityCommand.run(["approve", app, "-o", approved])
        XCTAssertEqual(approve.status, 0, approve.stderr)
        XCTAssertTrue(approve.stderr.contains("approved 3 files"), approve.stderr)

        func run(_ name: String) throws -> (status: Int32, violations: [[String: Any]], stderr: String) {
            let report = dir + "/" + name
            let out = try ProbityCommand.run([
                "run", "--approved", approved, "--report", report, "--", "/bin/sh", "-c", "python3 \(app)/main.py; \(script)",
            ], environment: ["PYTHONDONTWRITEBYTECODE": "1"], directory: dir)
            let list = (try? ProbityCommand.violations(report).list) ?? []
            return (out.status, list.filter { $0["category"] as? String == "integrity" }, out.stderr)
        }
        let clean = try run("clean")
        XCTAssertEqual(clean.status, 0, clean.stderr)
        XCTAssertEqual(clean.violations.count, 0, "\(clean.violations)")

        try "def greet():\n    import os\n    return os.getcwd()\n".write(toFile: helper, atomically: false, encoding: .utf8)
        try "#!/bin/sh\necho tampered\n".write(toFile: script, atomically: false, encoding: .utf8)
        try "x = 1\n".write(toFile: app + "/lib/extra.py", atomically: true, encoding: .utf8)
        let tampered = try run("tampered")
        XCTAssertEqual(tampered.status, 86, tampered.stderr)
        var byPath: [String: [String: Any]] = [:]
        for v in tampered.violations { byPath[(v["evidence"] as? [String: Any])?["path"] as? String ?? ""] = v }
        let real = { (p: String) in (realpath(p, nil).map { q in defer { free(q) }; return String(cString: q) }) ?? p }
        let module = try XCTUnwrap(byPath[real(helper)], "\(byPath.keys)")
        XCTAssertEqual(module["rule"] as? String, "hash-mismatch")
        XCTAssertEqual(module["severity"] as? String, "critical")
        let evidence = module["evidence"] as? [String: Any] ?? [:]
        XCTAssertEqual(evidence["digest_source"] as? String, "approved")
        XCTAssertEqual((evidence["expected_digest"] as? String)?.count, 64)
        XCTAssertNotEqual(evidence["expected_digest"] as? String, evidence["found_digest"] as? String)
        let chain = (module["processes"] as? [[String: Any]] ?? []).compactMap { $0["executable"] as? String }
        XCTAssertTrue(chain.first?.contains("python") ?? false, "the process that loaded it: \(chain)")
        XCTAssertEqual(byPath[real(script)]?["rule"] as? String, "hash-mismatch", "the script changed and then run")
        XCTAssertEqual(byPath[real(app + "/lib/extra.py")]?["rule"] as? String, "unlisted", "a module dropped into the tree")

        try original.write(toFile: helper, atomically: false, encoding: .utf8)
        try "#!/bin/sh\necho tool\n".write(toFile: script, atomically: false, encoding: .utf8)
        unlink(app + "/lib/extra.py")
        let restored = try run("restored")
        XCTAssertEqual(restored.status, 0, restored.stderr)
        XCTAssertEqual(restored.violations.count, 0, "restoring the files restores the verdict: \(restored.violations)")
    }
}
