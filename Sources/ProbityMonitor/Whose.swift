#if canImport(Glibc)
import Glibc
#endif
import ProbityAttribution
import ProbityEvents
import ProbitySinks

/// `probity whose PATH...`: the owning package of each path.
public enum Whose {
    /// What `whose` says of one path.
    public struct Answer: Sendable {
        /// The path as looked up: absolute (relative ones against `directory`), `.` and `..` resolved.
        public var path: String
        public var owners: [PathIndex.Owner]
        /// Whether something exists at the path (a dangling symbolic link counts).
        public var exists: Bool
        /// Why there is no owner: the file is missing, or no package lists it.
        public var reason: String? {
            guard owners.isEmpty else { return nil }
            return exists ? "no package owns it" : "no such file"
        }
    }

    /// The path `whose` looks up for `path`: absolute against `directory`, lexically normalised
    /// (`/usr/bin/../bin/ls` is `/usr/bin/ls`; symbolic links are not followed, as in the
    /// package databases).
    public static func normalize(_ path: String, directory: String) -> String {
        PathText.normalize(path.hasPrefix("/") ? path : directory + "/" + path)
    }

    /// Looks the paths up, reading only the database entries with their file names.
    public static func answers(paths: [String], workspaces: [String], directory: String) -> (answers: [Answer], problems: [String]) {
        let normalized = paths.map { normalize($0, directory: directory) }
        var options = DiscoveryOptions()
        let given = workspaces.isEmpty ? [directory] : workspaces.map { normalize($0, directory: directory) }
        // node_modules and virtual environments are searched for only in the workspaces that
        // hold one of the paths (a walk of a large current directory costs more than the rest).
        options.workspaces = given.filter { w in
            normalized.contains { $0 == w || $0.hasPrefix(w == "/" ? "/" : w + "/") }
        }
        options.onlyFileNames = FileNameFilter(paths: normalized)
        let found = PackageDiscovery.discover(options)
        let answers = normalized.map { path in
            var st = stat()
            return Answer(path: path, owners: found.index.owners(of: path), exists: lstat(path, &st) == 0)
        }
        return (answers, found.problems)
    }

    /// Prints `package: path` lines (or JSON lines, one per owner, and one with `package: null`
    /// and a `reason` for a path without one) and returns 0 when every path had an owner, else 1.
    public static func run(paths: [String], workspaces: [String], json: Bool) -> Int32 {
        let (answers, problems) = self.answers(paths: paths, workspaces: workspaces, directory: currentDirectory())
        for problem in problems { printError("probity: \(TerminalText.safe(problem))\n") }
        var missing = false
        let writer = JSONLineWriter(fd: 1)
        for answer in answers {
            let path = answer.path
            if let reason = answer.reason {
                missing = true
                if json {
                    writer.beginObject()
                    writer.field("path", path)
                    writer.nullField("package")
                    writer.field("reason", reason)
                    writer.endLine()
                } else if answer.exists {
                    printError("probity: no package owns \(TerminalText.safe(path))\n")
                } else {
                    printError("probity: \(TerminalText.safe(path)): No such file or directory (and no package lists it)\n")
                }
                continue
            }
            if json {
                for owner in answer.owners {
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
                let names = answer.owners.map { TerminalText.safe($0.package.qualifiedName) }.joined(separator: ", ")
                var text = "\(names): \(TerminalText.safe(path))\n"
                text.withUTF8 { _ = write(1, $0.baseAddress, $0.count) }
            }
        }
        writer.flush()
        return missing ? 1 : 0
    }

    static func currentDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return "/" }
        return String(cString: buffer)
    }
}
