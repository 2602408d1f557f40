#if canImport(Glibc)
import Glibc
#endif
import ProbitySinks

/// Finds the program a command names the way a shell does (`execvp`'s search), before anything
/// is started: `probity trace` then executes the absolute path (no failed `exec` per `PATH`
/// entry in the trace), and a missing command is reported by name with the shell's statuses.
public enum CommandLookup {
    /// Why the command cannot be run: the shell's message and status (127 not found, 126 found
    /// but not executable).
    public struct Failure: Error, CustomStringConvertible, Equatable {
        public var command: String
        public var reason: String
        public var status: Int32
        public var description: String { "\(command): \(reason)" }
    }

    /// glibc's `execvp` default when `PATH` is unset.
    static let defaultSearchPath = "/bin:/usr/bin"

    /// The path of the program `name` runs: `name` itself when it contains a slash, else the
    /// first executable regular file named `name` in `searchPath` (an empty entry is the current
    /// directory). Throws ``Failure`` naming the command.
    public static func resolve(_ name: String, searchPath: String? = nil) throws(Failure) -> String {
        if name.isEmpty { throw Failure(command: "''", reason: "command not found", status: 127) }
        if name.contains("/") {
            var st = stat()
            guard stat(name, &st) == 0 else {
                let err = errno
                throw Failure(command: name, reason: String(cString: strerror(err)), status: err == ENOENT || err == ENOTDIR ? 127 : 126)
            }
            if st.st_mode & S_IFMT == S_IFDIR { throw Failure(command: name, reason: "Is a directory", status: 126) }
            guard access(name, X_OK) == 0 else {
                throw Failure(command: name, reason: String(cString: strerror(errno)), status: 126)
            }
            return name
        }
        let path = searchPath ?? (getenv("PATH").map { String(cString: $0) } ?? defaultSearchPath)
        var deniedAt: String?
        for entry in path.split(separator: ":", omittingEmptySubsequences: false) {
            let directory = entry.isEmpty ? "." : String(entry)
            let candidate = directory.hasSuffix("/") ? directory + name : directory + "/" + name
            var st = stat()
            guard stat(candidate, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { continue }
            if access(candidate, X_OK) == 0 { return candidate }
            if deniedAt == nil { deniedAt = candidate }
        }
        if let deniedAt { throw Failure(command: deniedAt, reason: "Permission denied", status: 126) }
        throw Failure(command: name, reason: "command not found", status: 127)
    }
}

/// What `probity run` and `probity learn` check before loading anything: that the command can
/// be found (named with the shell's status otherwise) and that the report directory can be
/// made (named with the system's reason otherwise).
public enum RunPreflight {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        /// The exit status: the shell's (127, 126) for the command, ``RunStatus/failure`` else.
        public var status: Int32
    }

    public static func check(_ options: RunOptions) throws(Failure) {
        if let name = options.command.first {
            do { _ = try CommandLookup.resolve(name) } catch {
                throw Failure(description: error.description, status: error.status)
            }
        }
        do { try ReportWriter.makeDirectory(options.reportDirectory) } catch {
            throw Failure(description: error.description, status: RunStatus.failure)
        }
    }
}
