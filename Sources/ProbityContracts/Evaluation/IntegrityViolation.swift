import ProbityAttribution
import ProbityEvents

/// Re-validation findings as violations of the contract rule that denies them (an `integrity:`
/// rule of the contract governing the process that executed or loaded the file), for
/// `probity run` and `probityd` alike, with the expected and the found digest as evidence.
public enum IntegrityViolation {
    /// The violation for `finding` under `rule` of `contract`; `owner` is the package that owns
    /// the file, `processes` the chain of the process that executed or loaded it (nearest first).
    public static func make(_ finding: Revalidator.Finding, rule: Rule, contract: String, owner: InstalledPackage?,
                            processes: [ProcessLink], bootTimeNanoseconds: UInt64 = WallClock.bootTimeNow()) -> Violation {
        var evidence = Evidence(operation: finding.rule == "new-pth" ? "open" : "load")
        evidence.path = finding.path
        evidence.expectedDigest = finding.expected
        evidence.foundDigest = finding.found
        evidence.digestSource = finding.source
        var clock = WallClock()
        return Violation(
            time: clock.rfc3339(boot: bootTimeNanoseconds), bootTimeNanoseconds: bootTimeNanoseconds, contract: contract,
            rule: rule.id, category: "integrity", severity: rule.severity, action: rule.action, enforced: false, enforcement: nil,
            message: finding.message, package: owner.map(PackageReference.init),
            attribution: AttributionReference(reason: "owner", evidence: finding.path),
            processes: processes.isEmpty ? [ProcessLink(pid: finding.pid, executable: finding.executable, argv: [])] : processes,
            evidence: evidence, ruleLocation: rule.location.description, count: 1, uid: finding.uid)
    }

    /// A finding no contract rule governs (probityd's built-in `new-pth`): critical, alert.
    public static func builtIn(_ finding: Revalidator.Finding, owner: InstalledPackage?) -> Violation {
        let rule = Rule(
            id: finding.rule, description: nil, severity: .critical, action: .alert, body: .integrity(IntegrityRule()),
            location: SourceLocation(file: "(built-in) integrity", line: 0, column: 0))
        var violation = make(finding, rule: rule, contract: "integrity", owner: owner, processes: [])
        violation.ruleLocation = "(built-in) integrity"
        return violation
    }
}
