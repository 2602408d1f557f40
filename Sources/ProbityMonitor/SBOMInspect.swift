#if canImport(Glibc)
import Glibc
#endif
import ProbityAttribution
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
    /// Prints the differences; returns 1 when a `failOn` kind is present, 2 when a file cannot be read.
    public static func run(old: String, new: String, json: Bool, failOn: [SBOMDiff.Failure]) -> Int32 {
        let diff: SBOMDiff
        do {
            diff = SBOMDiff(old: try SBOMReader.read(contentsOf: old), new: try SBOMReader.read(contentsOf: new))
        } catch {
            printError("probity: \(error)\n")
            return 2
        }
        func label(_ e: SBOMDiff.Entry) -> String { e.name + (e.version.map { "@\($0)" } ?? "") }
        let safe: (String) -> String = TerminalText.safe
        if json {
            let w = JSONLineWriter(fd: 1)
            w.beginObject()
            w.field("added", diff.added.map(label))
            w.field("new_transitive", diff.newTransitive.map(label))
            w.field("removed", diff.removed.map(label))
            w.field("changed", diff.changed.map { "\(label($0.old)) -> \($0.new.version ?? "?")" })
            w.field("changed_file_hashes", diff.changedFileHashes)
            w.endLine()
            w.flush()
        } else {
            var lines: [String] = []
            lines += diff.added.map { "+ \(safe(label($0)))\($0.isDirect == false ? " (transitive)" : "")" }
            lines += diff.removed.map { "- \(safe(label($0)))" }
            lines += diff.changed.map { "~ \(safe($0.old.name)) \(safe($0.old.version ?? "?")) -> \(safe($0.new.version ?? "?"))" }
            lines += diff.changedFileHashes.map { "! \(safe($0)): hash changed" }
            lines.append("\(diff.added.count) added (\(diff.newTransitive.count) transitive), \(diff.removed.count) removed, "
                + "\(diff.changed.count) changed, \(diff.changedFileHashes.count) file hashes changed")
            var text = lines.joined(separator: "\n") + "\n"
            text.withUTF8 { _ = write(1, $0.baseAddress, $0.count) }
        }
        return failOn.contains(where: diff.has) ? 1 : 0
    }
}
