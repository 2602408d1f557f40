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
                    var text = summary.description + "\n"
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
