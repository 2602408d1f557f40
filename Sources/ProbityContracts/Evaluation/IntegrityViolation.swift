import ProbityAttribution
import ProbityEvents

/// Re-validation findings as violations of the built-in `integrity` contract, for `probity run`
/// and `probityd` alike: critical, with the expected and the found digest as evidence.
public enum IntegrityViolation {
    /// The violation for `finding`; `owner` is the package that owns the file, `processes` the
    /// chain of the process that executed or loaded it (nearest first).
    public static func make(_ finding: Revalidator.Finding, owner: InstalledPackage?, processes: [ProcessLink],
                            bootTimeNanoseconds: UInt64 = WallClock.bootTimeNow(), action: RuleAction = .alert) -> Violation {
        var evidence = Evidence(operation: finding.rule == "new-pth" ? "open" : "load")
        evidence.path = finding.path
        evidence.expectedDigest = finding.expected
        evidence.foundDigest = finding.found
        evidence.digestSource = finding.source
        var clock = WallClock()
        return Violation(
            time: clock.rfc3339(boot: bootTimeNanoseconds), bootTimeNanoseconds: bootTimeNanoseconds, contract: "integrity",
            rule: finding.rule, category: "integrity", severity: .critical, action: action, enforced: false, enforcement: nil,
            message: finding.message, package: owner.map(PackageReference.init),
            attribution: AttributionReference(reason: "owner", evidence: finding.path),
            processes: processes.isEmpty ? [ProcessLink(pid: finding.pid, executable: finding.executable, argv: [])] : processes,
            evidence: evidence, ruleLocation: "(built-in) integrity", count: 1, uid: finding.uid)
    }
}
