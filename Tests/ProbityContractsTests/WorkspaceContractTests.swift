import Foundation
import ProbityAttribution
import ProbityContracts
import ProbityEvents
import XCTest

/// The workspace (`probity run`'s command and the code no package owns) is judged by the
/// `match: workspace` contract when there is one, else the default: never by `system`, even when
/// the tool acting is a Debian package's.
final class WorkspaceContractTests: XCTestCase {
    private let coreutils = InstalledPackage(name: "coreutils", version: "9.7", ecosystem: "deb", source: .dpkg)

    private func workspace() -> Attribution {
        Attribution(package: nil, reason: .workspace, evidence: "probity run -- cp", executablePackage: coreutils)
    }

    func testWorkspaceFallsToTheDefaultContractNeverSystem() throws {
        let set = try ContractSet.load(files: [Make.defaultPolicyPath], variables: Make.variables)
        XCTAssertEqual(set.contractName(attributedAs: workspace()), "default")
        let system = Attribution(package: coreutils, reason: .systemExecutable, evidence: "/usr/bin/cp", executablePackage: nil)
        XCTAssertEqual(set.contractName(attributedAs: system), "system", "probityd's view of the host's own tools is unchanged")
        XCTAssertEqual(set.contractName(attributedAs: nil), "default")

        var evaluator = Evaluator(contracts: set)
        let found = evaluator.check(Make.open("/root/.ssh/id_rsa"), workspace())
        XCTAssertEqual(found.map(\.rule), ["credential-read"])
        XCTAssertEqual(found.first?.contract, "default")
        XCTAssertNil(found.first?.package)
        XCTAssertEqual(found.first?.attribution.reason, "workspace")
        // The host's own tools are judged by `system`, which since issue 9 also lets only readers
        // (ssh, gpg) read credentials: cp reading a key is a finding there too.
        XCTAssertEqual(evaluator.check(Make.open("/root/.ssh/id_rsa"), system).map(\.contract), ["system"])
    }

    func testWorkspaceContractIsSelectedWhenPresent() throws {
        let set = try Make.contracts("""
            version: 1
            contracts:
              - name: project
                match: workspace
                extends: base
                rules:
                  - id: keys
                    severity: low
                    secrets: {paths: ["{home}/.ssh/**"]}
              - name: loose
                match: unattributed
                rules: []
              - name: base
                match: default
                rules:
                  - id: keys
                    secrets: {credentials: deny}
              - name: system
                match: {source: dpkg}
                rules: []
            """)
        XCTAssertEqual(set.contractName(attributedAs: workspace()), "project")
        XCTAssertEqual(set.contractName(attributedAs: Attribution.unattributed), "loose", "unattributed code is not the workspace")
        XCTAssertEqual(set.contractName(attributedAs: Make.package("dep")), "base")
        var evaluator = Evaluator(contracts: set)
        let found = evaluator.check(Make.open("/root/.ssh/id_rsa"), workspace())
        XCTAssertEqual(found.map { "\($0.contract)/\($0.rule)/\($0.severity)" }, ["project/keys/low"])
    }

    func testWorkspaceSelectorIsParsedAndUnique() throws {
        XCTAssertThrowsError(try Make.contracts("""
            contracts:
              - {name: a, match: workspace, rules: []}
              - {name: b, match: workspace, rules: []}
            """)) { error in
            XCTAssertTrue("\(error)".contains("a second `match: workspace` contract"), "\(error)")
        }
        XCTAssertThrowsError(try Make.contracts("contracts:\n  - {name: a, match: everything, rules: []}\n")) { error in
            XCTAssertTrue("\(error)".contains("`workspace`"), "the error lists it: \(error)")
        }
    }

    /// `probity learn`: what the workspace did is learnt as a `match: workspace` contract, which
    /// silences it and nothing a package does.
    func testLearntWorkspaceContract() throws {
        let base = try PolicyLoader.load(contentsOf: Make.defaultPolicyPath)
        var evaluator = Evaluator(contracts: try ContractSet(documents: [base], variables: Make.variables))
        var learner = ContractLearner(variables: Make.variables)
        for v in evaluator.check(Make.open("/home/dev/.ssh/id_rsa"), workspace()) { learner.learn(from: v) }
        let text = learner.yaml(header: "test")
        XCTAssertTrue(text.contains("match: workspace"), text)
        var after = Evaluator(contracts: try ContractSet(documents: [try PolicyLoader.parse(text, file: "learned.yaml"), base], variables: Make.variables))
        XCTAssertEqual(after.check(Make.open("/home/dev/.ssh/id_rsa"), workspace()).count, 0, text)
        XCTAssertEqual(after.check(Make.open("/home/dev/.ssh/id_rsa"), Make.package("dep")).map(\.rule), ["credential-read"])
        XCTAssertEqual(after.check(Make.open("/home/dev/.ssh/id_rsa"), nil).map(\.rule), ["credential-read"], "unattributed is not the workspace")
    }
}
