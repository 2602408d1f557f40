import Foundation
import ProbityContracts

/// JUnit XML, as CI systems show test results: one test case per folded violation (failed), one
/// for event loss, and a passing case when the contracts held.
public enum JUnitReport {
    public static func text(_ report: RunReport) -> String {
        var cases: [String] = []
        for v in report.violations {
            let classname = v.package.map { "\($0.ecosystem).\($0.name)" } ?? "unattributed"
            let details = """
                \(v.message)
                package: \(v.package?.displayName ?? "unattributed") (\(v.attribution.reason)\(v.attribution.evidence.isEmpty ? "" : ": \(v.attribution.evidence)"))
                rule: \(v.contract)/\(v.rule) at \(v.ruleLocation), severity \(v.severity.rawValue), action \(v.action.rawValue)\(v.enforced ? " (enforced)" : "")
                process: \(ReportWriter.chain(v))
                seen: \(v.count) time\(v.count == 1 ? "" : "s"), first at \(v.time)
                """
            cases.append("""
                    <testcase classname="\(escape(classname))" name="\(escape("\(v.contract)/\(v.rule): \(v.evidence.target)"))" time="0">
                      <failure type="\(escape(v.severity.rawValue))" message="\(escape(v.message))">\(escape(details))</failure>
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
        if report.violations.isEmpty {
            cases.append("""
                    <testcase classname="probity" name="contracts held" time="\(String(format: "%.3f", report.durationSeconds))"/>
                """)
        }
        let failures = report.violations.count + (report.lostEvents > 0 ? 1 : 0)
        return """
            <?xml version="1.0" encoding="UTF-8"?>
            <testsuites name="probity" tests="\(cases.count)" failures="\(failures)" errors="0" time="\(String(format: "%.3f", report.durationSeconds))">
              <testsuite name="probity run \(escape(report.commandLine))" tests="\(cases.count)" failures="\(failures)" errors="0" skipped="0" timestamp="\(escape(report.startTime))" time="\(String(format: "%.3f", report.durationSeconds))">
            \(cases.joined(separator: "\n"))
              </testsuite>
            </testsuites>

            """
    }

    /// Escapes text for XML attributes and content; drops characters XML 1.0 cannot carry.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\n", "\t", "\r": out.unicodeScalars.append(scalar)
            default:
                let v = scalar.value
                if v < 0x20 || (0xFFFE...0xFFFF).contains(v) { out += "\u{FFFD}" } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out
    }
}

/// `summary.md`: what a person reads first, also appended to `$GITHUB_STEP_SUMMARY`.
public enum MarkdownSummary {
    public static func text(_ report: RunReport) -> String {
        var lines: [String] = []
        let verdict = report.passed ? "✅ passed" : "❌ failed"
        lines.append("## Probity: \(verdict)")
        lines.append("")
        lines.append("`\(cell(report.commandLine))` exited with status \(report.commandStatus) after \(String(format: "%.1f", report.durationSeconds)) s (\(report.mode) mode).")
        lines.append("")
        for failure in report.failures { lines.append("- **\(cell(failure))**") }
        if !report.failures.isEmpty { lines.append("") }
        let kinds = report.eventCounts.sorted { $0.key < $1.key }.filter { $0.value > 0 }.map { "\($0.key) \($0.value)" }
        lines.append("Events: \(kinds.isEmpty ? "none" : kinds.joined(separator: ", ")); lost: \(report.lostEvents). Contracts: \(report.policyFiles.map { "`\($0)`" }.joined(separator: ", ")).")
        lines.append("")
        if report.violations.isEmpty {
            lines.append("No contract violations.")
            return lines.joined(separator: "\n") + "\n"
        }
        let total = report.violations.reduce(0) { $0 + $1.count }
        let packages = Set(report.violations.map { $0.package?.displayName ?? "unattributed" })
        lines.append("### \(total) violation\(total == 1 ? "" : "s") by \(packages.count) package\(packages.count == 1 ? "" : "s")")
        lines.append("")
        lines.append("| Severity | Package | Rule | What | Process |")
        lines.append("|---|---|---|---|---|")
        let ordered = report.violations.sorted { ($0.severity, $1.bootTimeNanoseconds) > ($1.severity, $0.bootTimeNanoseconds) }
        for v in ordered {
            let what = what(v) + (v.count > 1 ? " (×\(v.count))" : "") + (v.enforced ? " — \(v.action == .kill ? "killed" : "denied")" : "")
            lines.append("| \(v.severity.rawValue) | \(cell(v.package?.displayName ?? "unattributed")) | `\(cell(v.contract))/\(cell(v.rule))` | \(cell(what)) | \(cell(ReportWriter.chain(v, limit: 3))) |")
        }
        lines.append("")
        lines.append("<details><summary>Evidence</summary>")
        lines.append("")
        for v in ordered {
            lines.append("- **\(cell(v.package?.displayName ?? "unattributed"))** broke `\(cell(v.contract))/\(cell(v.rule))` (\(v.ruleLocation)): \(cell(v.message))")
            lines.append("  - attributed by \(v.attribution.reason)\(v.attribution.evidence.isEmpty ? "" : " (\(cell(v.attribution.evidence)))"); first at \(v.time)")
            lines.append("  - process chain: \(cell(ReportWriter.chain(v)))")
        }
        lines.append("")
        lines.append("</details>")
        return lines.joined(separator: "\n") + "\n"
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

    /// Text safe inside a table cell.
    static func cell(_ text: String) -> String {
        text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
            .replacingOccurrences(of: "`", with: "'")
    }
}
