import Foundation
import ProbityAttribution
import ProbityContracts
import XCTest

final class PolicyLoaderTests: XCTestCase {
    func testBuiltInPolicyLoads() throws {
        let set = try ContractSet.load(files: [Make.defaultPolicyPath], variables: Make.variables)
        XCTAssertEqual(set.contractNames, ["default", "package-managers", "system"])
        XCTAssertGreaterThan(set.ruleCount, 8)
    }

    /// `check` goes on after a broken rule, amendment or contract and returns every problem, in
    /// file order; `parse` throws the first of them.
    func testCheckReportsEveryProblemInFileOrder() {
        let yaml = """
            contracts:
              - name: a
                match: default
                rules:
                  - id: r
                    severity: fatal
                    exec: none
                  - id: s
                    process: {outlive: maybe}
              - name: b
                match: everything
              - name: a
                match: {name: x}
            """
        let (_, problems) = PolicyLoader.check(yaml, file: "t.yaml")
        XCTAssertEqual(problems.map(\.description), [
            "t.yaml:6:19: unknown severity `fatal` (expected low, medium, high or critical)",
            "t.yaml:9:28: `outlive` is deny or allow (or true or false), not `maybe`",
            "t.yaml:11:12: `match` is `default`, `unattributed`, `workspace` or a mapping (purl, name, ecosystem, source, standing)",
            "t.yaml:12:5: contract `a` is defined twice (first at t.yaml:2:5)",
        ])
        XCTAssertThrowsError(try PolicyLoader.parse(yaml, file: "t.yaml")) { error in
            XCTAssertEqual("\(error)", problems.first?.description)
        }
    }

    /// Each broken contract is refused with its own message at the place of the problem.
    func testInvalidContractsNameTheirPlace() {
        let cases: [(yaml: String, line: Int, column: Int, message: String)] = [
            ("version: 1\ncontracts:\n  - name: a\n    match: default\n    rules:\n      - id: r\n        netwerk: none\n",
             7, 9, "unknown key `netwerk` in a rule"),
            ("version: 2\ncontracts: []\n", 1, 10, "unsupported version"),
            ("contracts:\n  - match: default\n", 2, 5, "a contract needs a `name`"),
            ("contracts:\n  - name: a\n", 2, 5, "contract `a` needs a `match`"),
            ("contracts:\n  - name: a\n    match: everything\n", 3, 12, "`match` is `default`, `unattributed`, `workspace` or a mapping"),
            ("contracts:\n  - name: a\n    match: {standing: newest}\n", 3, 23, "unknown standing `newest`"),
            ("contracts:\n  - name: a\n    match: default\n    rules:\n      - id: r\n        severity: fatal\n        exec: none\n",
             6, 19, "unknown severity `fatal`"),
            ("contracts:\n  - name: a\n    match: default\n    rules:\n      - id: r\n        action: deny\n        exec: none\n",
             6, 17, "`deny` applies to network rules"),
            ("contracts:\n  - name: a\n    match: default\n    rules:\n      - id: r\n        action: kill\n        network: none\n",
             6, 17, "`kill` applies to exec, files and secrets rules"),
            ("contracts:\n  - name: a\n    match: default\n    rules:\n      - id: r\n        exec: none\n        network: none\n",
             5, 9, "needs exactly one of network, files, exec, process, secrets, integrity (found 2)"),
            ("contracts:\n  - name: a\n    match: default\n    rules:\n      - id: r\n        network:\n          allow:\n            - cidr: 10.0.0.0/40\n",
             8, 21, "not an address or CIDR network: 10.0.0.0/40"),
            ("contracts:\n  - name: a\n    match: default\n    rules:\n      - id: r\n        network:\n          allow:\n            - port: 99999\n",
             8, 21, "not a port or port range"),
            ("contracts:\n  - name: a\n    match: default\n    rules:\n      - id: r\n        files:\n          read:\n            deny: [\"{homedir}/x\"]\n",
             8, 20, "unknown variable {homedir}"),
            ("contracts:\n  - name: a\n    match: default\n    rules:\n      - id: r\n        files:\n          write:\n            allow: [\"/x/{package}\"]\n",
             8, 21, "{package} must start the pattern"),
            ("contracts:\n  - name: a\n    match: default\n    rules:\n      - id: r\n        files:\n          write:\n            allow: [relative/path]\n",
             8, 21, "path patterns are absolute or start with a variable"),
            ("contracts:\n  - name: a\n    match: default\n    rules:\n      - id: r\n        exec:\n          deny: [\"/a/b**\"]\n",
             7, 18, "`**` must be a whole path segment"),
            ("contracts:\n  - name: a\n    match: default\n    rules:\n      - id: r\n        exec: none\n      - id: r\n        exec: none\n",
             7, 9, "rule id `r` is used twice in contract `a` (first at test.yaml:5:9)"),
            ("contracts:\n  - name: a\n    match: default\n    rules:\n      - id: r\n        process: {outlive: no}\n",
             6, 18, "`process` forbids nothing"),
            ("contracts:\n  - name: a\n    match: default\n    rules:\n      - id: r\n        secrets: {credentials: maybe}\n",
             6, 32, "`credentials` is deny or allow (or true or false), not `maybe`"),
            ("contracts:\n  - name: a\n    match: default\n    rules:\n      - id: \"bad id!\"\n        exec: none\n",
             5, 13, "`id` may use letters, digits"),
            ("contracts:\n  - name: a\n    match: default\n    rules: [\n", 5, 1, "invalid YAML"),
            ("contracts:\n\t- name: a\n", 2, 1, "invalid YAML"),
            ("contracts: {}\n", 1, 12, "`contracts` must be a list"),
            ("[1, 2]\n", 1, 1, "a policy file must be a mapping"),
            ("", 1, 1, "empty policy file"),
        ]
        for c in cases {
            XCTAssertThrowsError(try PolicyLoader.parse(c.yaml, file: "test.yaml"), c.message) { error in
                guard let e = error as? ContractError else { return XCTFail("\(error)") }
                XCTAssertEqual(e.file, "test.yaml")
                XCTAssertTrue(e.message.contains(c.message), "expected “\(c.message)” in “\(e.message)”")
                XCTAssertEqual(e.line, c.line, "\(c.message): \(e)")
                XCTAssertEqual(e.column, c.column, "\(c.message): \(e)")
                XCTAssertTrue(e.description.hasPrefix("test.yaml:\(c.line):"), e.description)
            }
        }
    }

    /// Problems across contracts (names, inheritance, defaults) are found when the set is built.
    func testSetLevelErrors() throws {
        let cases: [(String, String)] = [
            ("contracts:\n  - name: a\n    match: default\n  - name: a\n    match: {name: x}\n", "contract `a` is defined twice (first at test.yaml:2:5)"),
            ("contracts:\n  - name: a\n    match: default\n  - name: b\n    match: default\n", "a second `match: default` contract"),
            ("contracts:\n  - name: a\n    match: {name: x}\n    extends: nope\n", "extends `nope`, which is not defined"),
            ("contracts:\n  - name: a\n    match: {name: x}\n    extends: b\n  - name: b\n    match: {name: y}\n    extends: a\n", "extends itself"),
        ]
        for (yaml, message) in cases {
            XCTAssertThrowsError(try Make.contracts(yaml)) { error in
                XCTAssertTrue("\(error)".contains(message), "expected “\(message)” in “\(error)”")
                XCTAssertTrue("\(error)".hasPrefix("test.yaml:"), "\(error)")
            }
        }
    }

    func testMissingFileIsNamed() {
        XCTAssertThrowsError(try ContractSet.load(files: ["/nonexistent/p.yaml"])) { error in
            XCTAssertTrue("\(error)".hasPrefix("/nonexistent/p.yaml: cannot open: No such file or directory"), "\(error)")
        }
    }
}

final class ContractStoreTests: XCTestCase {
    /// A reload with a broken file is refused with its place, and the old set stays in force.
    func testReloadIsAllOrNothing() throws {
        let dir = NSTemporaryDirectory() + "probity-store-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/team.yaml"
        let good = "contracts:\n  - name: team\n    match: {name: x}\n    rules:\n      - id: offline\n        network: none\n"
        try good.write(toFile: file, atomically: true, encoding: .utf8)
        let store = try ContractStore(files: [file, "builtin"], variables: Make.variables)
        XCTAssertEqual(store.snapshot.generation, 1)
        XCTAssertEqual(store.snapshot.contracts.contractNames, ["team", "default", "package-managers", "system"])

        try (good + "      - id: broken\n        network: {allow: [{cidr: 10.0.0.0/99}]}\n").write(toFile: file, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try store.reload()) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(file):8:"), "\(error)")
        }
        XCTAssertEqual(store.snapshot.generation, 1, "the old set stays")
        var before = Evaluator(contracts: store.snapshot.contracts)
        XCTAssertEqual(before.check(Make.connect(.ipv4(address: (1, 2, 3, 4), port: 80)), Make.package("x")).map(\.rule), ["offline"],
                       "the old rules still apply")

        try good.replacingOccurrences(of: "network: none", with: "exec: none").write(toFile: file, atomically: true, encoding: .utf8)
        XCTAssertEqual(try store.reload(), 2)
        var evaluator = Evaluator(contracts: try ContractSet(documents: [], variables: Make.variables))
        var generation: UInt64 = 0
        evaluator.refresh(from: store, generation: &generation)
        XCTAssertEqual(generation, 2)
        let x = Make.package("x")
        XCTAssertEqual(evaluator.check(Make.exec("/usr/bin/true"), x).map(\.rule), ["offline"])
    }
}

/// `integrity:` rules: which contract judges a finding (the one governing the code that executed
/// or loaded the file), and `except` exempting a file.
final class IntegrityRuleTests: XCTestCase {
    func testTheGoverningContractsRuleJudgesAFinding() throws {
        let document = try PolicyLoader.parse("""
            contracts:
              - name: default
                match: default
                rules:
                  - id: hash-mismatch
                    severity: critical
                    integrity: {changed: deny}
                    except:
                      path: [/opt/app/cache/**]
              - name: lax
                match: {name: lax}
                rules:
                  - id: nothing
                    integrity: {unlisted: deny}
            """, file: "p.yaml")
        let set = try ContractSet(documents: [document], variables: Make.variables)
        XCTAssertEqual(set.integrityRule("hash-mismatch", attribution: nil, path: "/opt/app/m.py", executable: "/usr/bin/python3")?.rule.id,
                       "hash-mismatch")
        XCTAssertNil(set.integrityRule("hash-mismatch", attribution: nil, path: "/opt/app/cache/m.py", executable: ""), "excepted")
        XCTAssertNil(set.integrityRule("unlisted", attribution: nil, path: "/opt/app/m.py", executable: ""), "no rule denies it")
        let lax = Attribution(package: InstalledPackage(name: "lax", version: "1", ecosystem: "pypi", source: .pip),
                              reason: .script, evidence: "", executablePackage: nil)
        XCTAssertNil(set.integrityRule("hash-mismatch", attribution: lax, path: "/opt/app/m.py", executable: ""), "lax's contract allows it")
        XCTAssertEqual(set.integrityRule("unlisted", attribution: lax, path: "/x", executable: "")?.contract, "lax")
        XCTAssertThrowsError(try PolicyLoader.parse("contracts: [{name: d, match: default, rules: [{id: r, integrity: {}}]}]", file: "q.yaml")) {
            XCTAssertTrue("\($0)".contains("`integrity` forbids nothing"), "\($0)")
        }
    }
}
