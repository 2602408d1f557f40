import Foundation
import ProbityContracts

/// The one JSON form of a violation everywhere it leaves Probity (reports, control socket, fleet
/// export): snake_case keys, sorted, slashes unescaped.
public enum ViolationJSON {
    public static func encoder(pretty: Bool = false) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return encoder
    }

    /// `violation` as a JSON object (for embedding in a larger response).
    public static func object(_ violation: Violation) -> [String: Any] {
        guard let data = try? encoder().encode(violation),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
        return object
    }
}

/// Errors writing a report, with the file.
public struct ReportError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var message: String
    public var description: String { "\(file): \(message)" }
}

/// Writes a ``RunReport`` as the files of `probity run --report DIR`: `violations.json`,
/// `report.sarif` (SARIF 2.1.0), `junit.xml` and `summary.md` (events.jsonl is streamed during
/// the run by the event writer).
public enum ReportWriter {
    /// Writes every report file into `directory` (created if needed).
    public static func write(_ report: RunReport, to directory: String) throws(ReportError) {
        try makeDirectory(directory)
        try save(violationsJSON(report), to: directory + "/violations.json")
        try save(SARIFReport.data(report), to: directory + "/report.sarif")
        try save(Data(JUnitReport.text(report).utf8), to: directory + "/junit.xml")
        try save(Data(MarkdownSummary.text(report).utf8), to: directory + "/summary.md")
    }

    /// Creates the report directory and its missing parents; an error names the directory that
    /// could not be made and the system's reason (`No such file or directory`, `Not a directory`, …).
    public static func makeDirectory(_ directory: String) throws(ReportError) {
        var st = stat()
        if stat(directory, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFDIR else {
                throw ReportError(file: directory, message: "cannot use as the report directory: \(String(cString: strerror(ENOTDIR)))")
            }
            return
        }
        let err = errno
        guard err == ENOENT else {
            throw ReportError(file: directory, message: "cannot use as the report directory: \(String(cString: strerror(err)))")
        }
        let parent = (directory as NSString).deletingLastPathComponent
        if !parent.isEmpty && parent != directory && parent != "/" { try makeDirectory(parent) }
        guard mkdir(directory, 0o755) == 0 || errno == EEXIST else {
            throw ReportError(file: directory, message: "cannot create the report directory: \(String(cString: strerror(errno)))")
        }
    }

    /// Appends the Markdown summary to a file (GitHub's `$GITHUB_STEP_SUMMARY`).
    public static func appendSummary(_ report: RunReport, to path: String) throws(ReportError) {
        guard let handle = FileHandle(forWritingAtPath: path) ?? create(path) else {
            throw ReportError(file: path, message: "cannot open the step summary for appending")
        }
        defer { try? handle.close() }
        do {
            try handle.seekToEnd()
            try handle.write(contentsOf: Data((MarkdownSummary.text(report) + "\n").utf8))
        } catch {
            throw ReportError(file: path, message: "cannot append the summary: \(error.localizedDescription)")
        }
    }

    private static func create(_ path: String) -> FileHandle? {
        FileManager.default.createFile(atPath: path, contents: nil) ? FileHandle(forWritingAtPath: path) : nil
    }

    static func save(_ data: Data, to path: String) throws(ReportError) {
        do {
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw ReportError(file: path, message: "cannot write: \(error.localizedDescription)")
        }
    }

    /// `violations.json`: the run's outcome and every folded violation.
    public static func violationsJSON(_ report: RunReport) -> Data {
        struct Document: Encodable {
            var command: [String]
            var commandStatus: Int32
            var mode: String
            var passed: Bool
            var failures: [String]
            var startTime: String
            var durationSeconds: Double
            var policies: [String]
            var events: [String: UInt64]
            var lostEvents: UInt64
            var unwatchedProcesses: UInt64
            var commandUser: RunReport.User?
            var commandRanAsRoot: Bool
            var violationCount: Int
            var violations: [Violation]
        }
        let document = Document(
            command: report.command, commandStatus: report.commandStatus, mode: report.mode, passed: report.passed,
            failures: report.failures, startTime: report.startTime, durationSeconds: report.durationSeconds,
            policies: report.policyFiles, events: report.eventCounts, lostEvents: report.lostEvents,
            unwatchedProcesses: report.unwatchedProcesses, commandUser: report.commandUser, commandRanAsRoot: report.ranAsRoot,
            violationCount: report.violations.reduce(0) { $0 + $1.count }, violations: report.violations)
        return (try? ViolationJSON.encoder(pretty: true).encode(document)) ?? Data("{}".utf8)
    }

    /// The chain `exe[pid] args ← parent ← ...` in one line, each process's arguments shortened
    /// (violations.json has them whole).
    static func chain(_ violation: Violation, limit: Int = 6) -> String {
        violation.processes.prefix(limit).map { p in
            let args = shortened(p.argv.dropFirst().prefix(4).map { shortened($0, limit: 40) }.joined(separator: " "), limit: 80)
            let name = p.executable.split(separator: "/").last.map(String.init) ?? p.executable
            return "\(name)[\(p.pid)]" + (args.isEmpty ? "" : " \(args)")
        }.joined(separator: " ← ")
    }

    /// `text` in at most `limit` characters: a longer one keeps its start and its end around
    /// `…` (the end of a path or an argument says the most).
    static func shortened(_ text: String, limit: Int) -> String {
        guard text.count > limit, limit > 8 else { return text }
        let tail = (limit - 1) / 3
        return String(text.prefix(limit - 1 - tail)) + "…" + String(text.suffix(tail))
    }
}
