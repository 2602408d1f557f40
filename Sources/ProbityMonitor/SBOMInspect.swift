#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbityAttribution
import ProbityEvents
import ProbitySinks

/// `probity sbom inspect FILE...`.
public enum SBOMInspect {
    /// Prints a summary of each file; returns 1 when any could not be read.
    public static func run(files: [String], json: Bool) -> Int32 {
        var failed = false
        let writer = JSONLineWriter(fd: 1)
        for file in files {
            do {
                let summary = SBOMSummary(file: file, document: try SBOMReader.read(contentsOf: file))
                if json {
                    writer.beginObject()
                    writer.field("file", file)
                    writer.field("format", summary.format.rawValue)
                    writer.field("spec_version", summary.specVersion)
                    writer.field("components", summary.components)
                    writer.field("with_version", summary.withVersion)
                    writer.field("with_purl", summary.withPurl)
                    writer.field("files", summary.files)
                    writer.field("files_with_hashes", summary.filesWithHashes)
                    writer.field("component_paths", summary.componentPaths)
                    writer.field("dependency_edges", summary.dependencyEdges)
                    writer.field("direct", summary.direct)
                    writer.field("transitive", summary.transitive)
                    writer.field("problems", summary.problems.map(\.description))
                    writer.endLine()
                } else {
                    var text = TerminalText.lines(summary.description) + "\n"
                    text.withUTF8 { _ = write(1, $0.baseAddress, $0.count) }
                }
            } catch {
                failed = true
                printError("probity: \(error)\n")
            }
        }
        writer.flush()
        return failed ? 1 : 0
    }
}

/// `probity sbom diff OLD NEW`.
public enum SBOMDiffCommand {
    /// The text lines: `+ NAME VERSION (ECOSYSTEM[, transitive])`, `- ...`, `~ NAME OLD -> NEW (ECOSYSTEM)`,
    /// `! PATH: hash changed`, then the counts.
    public static func lines(_ diff: SBOMDiff) -> [String] {
        let safe: (String) -> String = TerminalText.safe
        func label(_ e: SBOMDiff.Entry) -> String { safe(e.name) + (e.version.map { " \(safe($0))" } ?? "") }
        func notes(_ e: SBOMDiff.Entry, transitive: Bool = false) -> String {
            let words = [e.ecosystem.map(safe), transitive && e.isDirect == false ? "transitive" : nil].compactMap { $0 }
            return words.isEmpty ? "" : " (\(words.joined(separator: ", ")))"
        }
        var lines: [String] = []
        lines += diff.added.map { "+ \(label($0))\(notes($0, transitive: true))" }
        lines += diff.removed.map { "- \(label($0))\(notes($0))" }
        lines += diff.changed.map { "~ \(safe($0.old.name)) \(safe($0.old.version ?? "?")) -> \(safe($0.new.version ?? "?"))\(notes($0.new))" }
        lines += diff.changedFileHashes.map { "! \(safe($0)): hash changed" }
        lines.append("\(diff.added.count) added (\(diff.newTransitive.count) transitive), \(diff.removed.count) removed, "
            + "\(diff.changed.count) changed, \(English.count(diff.changedFileHashes.count, "file hash", "file hashes")) changed")
        return lines
    }

    /// One package in `--json`: name, version, ecosystem, purl (canonical) and direct (null: unknown).
    static func object(_ e: SBOMDiff.Entry) -> [String: Any] {
        ["name": e.name, "version": e.version ?? NSNull(), "ecosystem": e.ecosystem ?? NSNull(), "purl": e.purl ?? NSNull(),
         "direct": e.isDirect ?? NSNull()]
    }

    /// Prints the differences; returns 1 when a `failOn` kind is present, 2 when a file cannot be read.
    public static func run(old: String, new: String, json: Bool, failOn: [SBOMDiff.Failure]) -> Int32 {
        let diff: SBOMDiff
        do {
            diff = SBOMDiff(old: try SBOMReader.read(contentsOf: old), new: try SBOMReader.read(contentsOf: new))
        } catch {
            printError("probity: \(error)\n")
            return 2
        }
        for problem in diff.problems { printError("probity: warning: \(TerminalText.safe(problem))\n") }
        if json {
            let answer: [String: Any] = [
                "added": diff.added.map(object), "new_transitive": diff.newTransitive.map(object), "removed": diff.removed.map(object),
                "changed": diff.changed.map { ["old": object($0.old), "new": object($0.new)] },
                "changed_file_hashes": diff.changedFileHashes.map { ["path": $0] },
            ]
            var data = (try? JSONSerialization.data(withJSONObject: answer, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
            data.append(UInt8(ascii: "\n"))
            data.withUnsafeBytes { _ = write(1, $0.baseAddress, $0.count) }
        } else {
            var text = lines(diff).joined(separator: "\n") + "\n"
            text.withUTF8 { _ = write(1, $0.baseAddress, $0.count) }
        }
        return failOn.contains(where: diff.has) ? 1 : 0
    }
}
