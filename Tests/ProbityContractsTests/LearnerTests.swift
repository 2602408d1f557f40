import ProbityContracts
@testable import ProbityEvents
import XCTest

final class LearnerTests: XCTestCase {
    func testPathsAreGeneralised() {
        let learner = ContractLearner(variables: ContractVariables(
            homes: ["/tmp/demo.x1/home", "/root"], temporaryDirectories: ["/tmp", "/var/tmp"], workspace: "/work/project"))
        XCTAssertEqual(learner.generalise("/proc/4242/environ"), "/proc/*/environ")
        XCTAssertEqual(learner.generalise("/proc/4242/task/4243/mem"), "/proc/*/task/*/mem")
        XCTAssertEqual(learner.generalise("/tmp/demo.x1/home/.ssh/id_rsa"), "{home}/.ssh/id_rsa", "the deepest directory wins")
        XCTAssertEqual(learner.generalise("/tmp/.evil-stage2-12062"), "{tmp}/.evil-stage2-*")
        XCTAssertEqual(learner.generalise("/tmp/tmpa_4pc8zb/setup.py"), "{tmp}/*/setup.py")
        XCTAssertEqual(learner.generalise("/work/project/build/out.o"), "{workspace}/build/out.o")
        XCTAssertEqual(learner.generalise("/etc/hosts"), "/etc/hosts")
    }

    /// What the learner writes loads, and amends exactly the rules that were broken.
    func testLearntContractsLoadAndSilenceWhatWasSeen() throws {
        let variables = Make.variables
        let base = try PolicyLoader.load(contentsOf: Make.defaultPolicyPath)
        var evaluator = Evaluator(contracts: try ContractSet(documents: [base], variables: variables))
        evaluator.hostnames = { _ in ["cdn.example.test"] }
        let evil = Make.package("evil-pkg")
        let events = [
            Make.open("/home/dev/.ssh/id_rsa"),
            Make.open("/proc/77/environ"),
            Make.connect(.ipv4(address: (192, 0, 2, 7), port: 8443)),
            Make.exec("/tmp/stage-12345"),
        ]
        var learner = ContractLearner(variables: variables)
        for event in events { for v in evaluator.check(event, evil) { learner.learn(from: v) } }
        XCTAssertEqual(learner.packageCount, 1)
        let text = learner.yaml(header: "test")
        let learnt = try PolicyLoader.parse(text, file: "learned.yaml")
        var after = Evaluator(contracts: try ContractSet(documents: [learnt, base], variables: variables))
        after.hostnames = evaluator.hostnames
        for event in events { XCTAssertEqual(after.check(event, evil).count, 0, "\(event)\n\(text)") }
        // Only what was seen: another key, another host, another package are still flagged.
        XCTAssertEqual(after.check(Make.open("/home/dev/.aws/credentials"), evil).map(\.rule), ["credential-read"])
        after.hostnames = { _ in ["exfil.example.test"] }
        XCTAssertEqual(after.check(Make.connect(.ipv4(address: (192, 0, 2, 8), port: 8443)), evil).map(\.rule), ["egress"])
        XCTAssertEqual(after.check(Make.open("/home/dev/.ssh/id_rsa"), Make.package("other")).map(\.rule), ["credential-read"])
    }

    func testAmendmentErrors() {
        let cases: [(String, String)] = [
            ("contracts:\n  - name: a\n    match: {name: x}\n    amend:\n      - rule: r\n        except: {exe: /x}\n", "`amend` changes inherited rules: contract `a` needs `extends`"),
            ("contracts:\n  - name: a\n    match: default\n  - name: b\n    match: {name: x}\n    extends: a\n    amend:\n      - rule: nope\n        except: {exe: /x}\n", "amends rule `nope`, which it does not inherit"),
            ("contracts:\n  - name: a\n    match: default\n    rules:\n      - id: r\n        exec: none\n        except: {paths: [/x]}\n", "unknown key `paths` in `except`"),
        ]
        for (yaml, message) in cases {
            XCTAssertThrowsError(try Make.contracts(yaml)) { error in
                XCTAssertTrue("\(error)".contains(message), "expected “\(message)” in “\(error)”")
                XCTAssertTrue("\(error)".hasPrefix("test.yaml:"), "\(error)")
            }
        }
    }
}
