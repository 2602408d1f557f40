#if canImport(Glibc)
import Glibc
#endif
import ProbityAttribution
import ProbitySinks

/// `probity whose PATH...`: the owning package of each path.
public enum Whose {
    /// Prints `package: path` lines (or JSON lines) and returns 0 when every path had an owner.
    public static func run(paths: [String], workspaces: [String], json: Bool) -> Int32 {
        var options = DiscoveryOptions()
        if !workspaces.isEmpty { options.workspaces = workspaces }
        let found = PackageDiscovery.discover(options)
        for problem in found.problems { printError("probity: \(TerminalText.safe(problem))\n") }
        var missing = false
        let writer = JSONLineWriter(fd: 1)
        for path in paths {
            let owners = found.index.owners(of: path)
            if owners.isEmpty {
                missing = true
                printError("probity: no package owns \(TerminalText.safe(path))\n")
                continue
            }
            if json {
                for owner in owners {
                    writer.beginObject()
                    writer.field("path", path)
                    writer.field("package", owner.package.name)
                    if let version = owner.package.version { writer.field("version", version) }
                    if let purl = owner.package.purl { writer.field("purl", purl) }
                    writer.field("ecosystem", owner.package.ecosystem)
                    writer.field("source", owner.package.source.rawValue)
                    switch owner.match {
                    case .file: writer.field("match", "file")
                    case .root(let root): writer.field("match", "root"); writer.field("root", root)
                    }
                    writer.endLine()
                }
            } else {
                let names = owners.map { TerminalText.safe($0.package.qualifiedName) }.joined(separator: ", ")
                let line = "\(names): \(TerminalText.safe(path))\n"
                var text = line
                text.withUTF8 { _ = write(1, $0.baseAddress, $0.count) }
            }
        }
        writer.flush()
        return missing ? 1 : 0
    }
}
