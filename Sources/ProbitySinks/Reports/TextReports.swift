import Foundation
import ProbityContracts
import ProbityAttribution

/// JUnit XML, as CI systems show test results: one test case per folded violation (failed), one
/// for event loss, and a passing case when the contracts held.
public enum JUnitReport {
    public static func text(_ report: RunReport) -> String {
        var cases: [String] = []
        // Values from the code under watch go through TerminalText.safe (one line each, nothing a
        // CI log would act on), then everything through XMLText.escape.
        let safe: (String) -> String = TerminalText.safe
        for v in report.violations {
            let classname = v.package.map { "\($0.ecosystem).\($0.name)" } ?? "unattributed"
            let evidence = v.attribution.evidence.isEmpty ? "" : ": \(safe(v.attribution.evidence))"
            let details = """
                \(safe(v.message))
                package: \(safe(v.package?.displayName ?? "unattributed")) (\(safe(v.attribution.reason))\(evidence))
                rule: \(safe(v.contract))/\(safe(v.rule)) at \(safe(v.ruleLocation)), severity \(v.severity.rawValue), action \(v.action.rawValue)\(v.enforced ? " (enforced)" : "")
                process: \(safe(ReportWriter.chain(v)))
                seen: \(v.count) time\(v.count == 1 ? "" : "s"), first at \(safe(v.time))
                """
            let name = "\(safe(v.contract))/\(safe(v.rule)): \(safe(v.evidence.target))"
            cases.append("""
                    <testcase classname="\(escape(safe(classname)))" name="\(escape(name))" time="0">
                      <failure type="\(escape(v.severity.rawValue))" message="\(escape(safe(v.message)))">\(escape(details))</failure>
                    </testcase>
                """)
        }
        if report.lostEvents > 0 {
            cases.append("""
                    <testcase classname="probity" name="no events lost" time="0">
                      <failure type="loss" message="\(report.lostEvents) events were lost">the kernel or the pipeline dropped \(report.lostEvents) events; the run was not fully observed</failure>
                    </testcase>
                """)
        }
        if report.unwatchedProcesses > 0 {
            cases.append("""
                    <testcase classname="probity" name="every process watched" time="0">
                      <failure type="unwatched" message="\(report.unwatchedProcesses) processes were not watched">a kernel map was full: \(report.unwatchedProcesses) processes of the tree were not followed or not enforced</failure>
                    </testcase>
                """)
        }
        if report.violations.isEmpty {
            cases.append("""
                    <testcase classname="probity" name="contracts held" time="\(String(format: "%.3f", report.durationSeconds))"/>
                """)
        }
        let failures = report.violations.count + (report.lostEvents > 0 ? 1 : 0) + (report.unwatchedProcesses > 0 ? 1 : 0)
        return """
            <?xml version="1.0" encoding="UTF-8"?>
            <testsuites name="probity" tests="\(cases.count)" failures="\(failures)" errors="0" time="\(String(format: "%.3f", report.durationSeconds))">
              <testsuite name="probity run \(escape(TerminalText.safe(report.commandLine)))" tests="\(cases.count)" failures="\(failures)" errors="0" skipped="0" timestamp="\(escape(report.startTime))" time="\(String(format: "%.3f", report.durationSeconds))">
            \(cases.joined(separator: "\n"))
              </testsuite>
            </testsuites>

            """
    }

    /// Text for XML attributes and content (``XMLText/escape(_:)``).
    static func escape(_ text: String) -> String { XMLText.escape(text) }
}

/// `summary.md`: what a person reads first, also appended to `$GITHUB_STEP_SUMMARY`.
public enum MarkdownSummary {
    /// The heading's verdict. The gate judges what the command did, not whether it succeeded;
    /// a command that failed (127: not found) did not pass anything, so the heading says so
    /// rather than "passed".
    static func verdict(_ report: RunReport) -> String {
        if !report.passed { return "❌ failed" }
        if report.commandStatus != 0 { return "⚠️ no violations, but the command failed (status \(report.commandStatus))" }
        return "✅ passed"
    }

    public static func text(_ report: RunReport) -> String {
        var lines: [String] = []
        lines.append("## Probity: \(verdict(report))")
        lines.append("")
        lines.append("The command \(text(ReportWriter.shortened(report.commandLine, limit: 120))) exited with status \(report.commandStatus) after \(String(format: "%.1f", report.durationSeconds)) s (\(report.mode) mode).")
        lines.append("")
        for failure in report.failures { lines.append("- **\(text(failure))**") }
        if !report.failures.isEmpty { lines.append("") }
        if let user = report.commandUser {
            lines.append("The command ran as \(text(user.name)) (uid \(user.uid)), without capabilities.")
            lines.append("")
        }
        if report.ranAsRoot {
            lines.append("> ⚠️ **\(text(RunReport.rootWarning))**")
            lines.append("")
        }
        let kinds = report.eventCounts.sorted { $0.key < $1.key }.filter { $0.value > 0 }.map { "\($0.key) \($0.value)" }
        lines.append("Events: \(kinds.isEmpty ? "none" : kinds.joined(separator: ", ")); lost: \(report.lostEvents). Contracts: \(report.policyFiles.map { MarkdownText.code($0) }.joined(separator: ", ")).")
        lines.append("")
        if report.violations.isEmpty {
            lines.append("No contract violations.")
            return lines.joined(separator: "\n") + "\n"
        }
        let total = report.violations.reduce(0) { $0 + $1.count }
        let packages = Set(report.violations.map(actor))
        lines.append("### \(total) violation\(total == 1 ? "" : "s") by \(packages.count) package\(packages.count == 1 ? "" : "s")")
        lines.append("")
        lines.append("| Severity | Package | Rule | What | Process |")
        lines.append("|---|---|---|---|---|")
        let ordered = report.violations.sorted { ($0.severity, $1.bootTimeNanoseconds) > ($1.severity, $0.bootTimeNanoseconds) }
        for v in ordered {
            let what = ReportWriter.shortened(what(v), limit: 100) + (v.count > 1 ? " (×\(v.count))" : "")
                + (v.enforced ? " — \(v.action == .kill ? "killed" : "denied")" : "")
            lines.append("| \(v.severity.rawValue) | \(text(actor(v))) | \(MarkdownText.code("\(v.contract)/\(v.rule)", inTable: true)) | \(text(what)) | \(text(ReportWriter.chain(v, limit: 3))) |")
        }
        lines.append("")
        lines.append("<details><summary>Evidence</summary>")
        lines.append("")
        for v in ordered {
            // "`evil-hook@1.0.0` read `/home/u/.ssh/id_rsa` — default/credential-read (critical)"
            lines.append("- **\(text(actor(v)))** \(text(ReportWriter.shortened(deed(v), limit: 200))) — \(MarkdownText.code("\(v.contract)/\(v.rule)")) (\(v.severity.rawValue))")
            lines.append("  - why: \(text(ReportWriter.shortened(v.message, limit: 300))) (rule at \(text(v.ruleLocation)))")
            lines.append("  - charged to \(text(actor(v))): \(text(reason(v.attribution))); first at \(text(v.time))")
            lines.append("  - process chain: \(text(ReportWriter.chain(v)))")
        }
        lines.append("")
        lines.append("</details>")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Who did it: the package, the workspace (the command's own code) or unattributed code.
    static func actor(_ v: Violation) -> String {
        if let package = v.package { return package.displayName }
        return v.attribution.reason == Attribution.Reason.workspace.rawValue ? "the workspace" : "unattributed code"
    }

    /// What it did, as a verb phrase: "read /home/u/.ssh/id_rsa", "connected to x.test:443".
    static func deed(_ v: Violation) -> String {
        let e = v.evidence
        switch e.operation {
        case "open":
            let access = e.access ?? []
            let verb = access.contains("write") || access.contains("create") || access.contains("truncate") ? "wrote" : "read"
            return "\(verb) \(e.path ?? "")"
        case "exec": return "ran \(e.path ?? "")"
        case "process": return "left \(e.path ?? "a process") running"
        case "load": return "loaded \(e.path ?? "")"
        case "connect", "sendto", "sendmsg", "sendmmsg":
            let name = e.hostnames?.first.map { "\($0) (\(e.address ?? ""))" } ?? (e.address ?? "")
            return "connected to \(name)\(e.port.map { ":\($0)" } ?? "")\(e.protocol.map { " over \($0)" } ?? "")"
        default:
            return what(v)
        }
    }

    /// Why the code was charged to whom it was, in words.
    static func reason(_ a: AttributionReference) -> String {
        let said: String
        switch Attribution.Reason(rawValue: a.reason) {
        case .executable?: said = "its program belongs to the package"
        case .script?: said = "an interpreter ran the package's script or module"
        case .npmLifecycle?: said = "npm ran one of the package's lifecycle scripts"
        case .pythonBuild?: said = "the package was being built"
        case .workingDirectory?: said = "it ran in the package's directory"
        case .inherited?: said = "the package's code started it"
        case .workspace?: said = "the command's own code, which no package owns"
        case .systemExecutable?: said = "its program belongs to a distribution package"
        case .unattributed?: said = "no package owns the code"
        case nil: said = a.reason
        }
        return a.evidence.isEmpty ? said : "\(said) (\(ReportWriter.shortened(a.evidence, limit: 200)))"
    }

    static func what(_ v: Violation) -> String {
        let e = v.evidence
        switch e.operation {
        case "open": return "\((e.access ?? []).joined(separator: "+")) \(e.path ?? "")"
        case "exec": return "exec \(e.path ?? "")"
        case "process": return "still running: \(e.path ?? "")"
        default:
            let name = e.hostnames?.first.map { "\($0) " } ?? ""
            return "\(e.operation) \(name)\(e.address ?? "")\(e.port.map { ":\($0)" } ?? "") \(e.protocol ?? "")"
        }
    }

    /// Text from elsewhere (paths, argv, names, messages quoting them) as inline Markdown that
    /// stays inside its table cell or list item (``MarkdownText/inline(_:)``).
    static func text(_ value: String) -> String { MarkdownText.inline(value) }
}
