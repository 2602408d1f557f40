import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
import ProbityAttribution
import ProbityContracts
@testable import ProbityEvents
import ProbityProcess
@testable import ProbitySinks

/// Paths, argv and package names come from the code under watch. Whatever they hold, the
/// terminal output stays inert text, the Markdown summary keeps its structure, junit.xml parses,
/// and the JSON outputs stay valid and keep the values exactly.
final class OutputSafetyTests: XCTestCase {
    /// A path component the kernel returned with bytes that are not UTF-8 (0xff, 0xfe, a cut
    /// sequence), as ProbityEvents decodes it: each bad byte becomes U+FFFD.
    static let invalidUTF8Path: String = [UInt8]([0x2F, 0x74, 0xFF, 0xFE, 0x2F, 0xC3, 0x28, 0xE2, 0x82]).withUnsafeBytes {
        PathText.string($0)
    }

    /// Each hostile value on its own.
    static let hostileValues: [String] = [
        "\r<!-- the rest of the summary is hidden",
        "line one\nline two",
        "<!--", "-->",
        "`", "``many``` backticks````",
        "a|b||c",
        "<script>alert(1)</script>",
        "&amp; & &#60;",
        "\u{1b}[2J\u{1b}[H",
        "\u{1b}]8;;https://evil.example/\u{1b}\\click me\u{1b}]8;;\u{1b}\\",
        "\u{1b}]52;c;Y3VybCBldmlsLmV4YW1wbGUgfCBzaA==\u{7}",
        "\u{9b}31mred\u{9b}0m",
        "nul\u{0}byte",
        "del\u{7f}",
        "tab\there",
        "back\\slash \\x1b",
        "bidi \u{202e}gpj.exe",
        "[link](javascript:alert(1)) *em* _em_ ~strike~",
        invalidUTF8Path,
    ]

    /// All of them in one path.
    static let hostilePath = "/tmp/evil" + hostileValues.joined(separator: "/")

    // MARK: - The neutralisers

    func testTerminalTextRendersControlsVisibly() {
        XCTAssertEqual(TerminalText.safe("\u{1b}[2J"), "\\x1b[2J")
        XCTAssertEqual(TerminalText.safe("\u{9b}31m"), "\\x9b31m")
        XCTAssertEqual(TerminalText.safe("\u{1b}]52;c;AAAA\u{7}"), "\\x1b]52;c;AAAA\\x07")
        XCTAssertEqual(TerminalText.safe("a\r\n\tb"), "a\\r\\n\\tb")
        XCTAssertEqual(TerminalText.safe("\u{0}\u{7f}\u{85}\u{9c}\u{9d}"), "\\x00\\x7f\\x85\\x9c\\x9d")
        XCTAssertEqual(TerminalText.safe("back\\slash"), "back\\\\slash")
        XCTAssertEqual(TerminalText.safe("\u{202e}\u{2066}\u{2028}\u{200f}"), "\\u{202e}\\u{2066}\\u{2028}\\u{200f}")
        // What is not a control passes unchanged, ASCII or not.
        for plain in ["/usr/lib/python3/dist-packages/x.py", "é 😀 日本 \u{FFFD}", "", "a b 'c' \"d\" <e> | `f`"] {
            XCTAssertEqual(TerminalText.safe(plain), plain)
        }
    }

    func testTerminalTextOfBytesShowsInvalidUTF8() {
        let bytes: [UInt8] = [0x2F, 0xFF, 0x1B, 0x5B, 0xC3, 0xA9, 0xC3, 0x28, 0xE2, 0x82]
        XCTAssertEqual(TerminalText.safe(bytes: bytes), "/\\xff\\x1b[é\\xc3(\\xe2\\x82")
        XCTAssertEqual(TerminalText.safe(bytes: Array("plain/ascii".utf8)), "plain/ascii")
        XCTAssertEqual(TerminalText.safe(bytes: [UInt8]()), "")
        // The decoder replaces bad bytes with U+FFFD, which is safe to show.
        XCTAssertEqual(Self.invalidUTF8Path, "/t\u{FFFD}\u{FFFD}/\u{FFFD}(\u{FFFD}")
        XCTAssertEqual(TerminalText.safe(Self.invalidUTF8Path), Self.invalidUTF8Path)
    }

    func testTerminalTextLeavesNoControlInAnyHostileValue() {
        for value in Self.hostileValues + [Self.hostilePath] {
            let safe = TerminalText.safe(value)
            Self.assertInert(safe, allowingLineFeeds: false, value)
        }
        XCTAssertEqual(TerminalText.lines("one\u{1b}[2J\ntwo\r\n"), "one\\x1b[2J\ntwo\\r\n")
        Self.assertInert(TerminalText.lines(Self.hostileValues.joined(separator: "\n")), allowingLineFeeds: true, "lines")
    }

    func testMarkdownInlineEscapesMarkupAndControls() {
        XCTAssertEqual(MarkdownText.inline("\r<!--"), "\\\\r&lt;!--")
        XCTAssertEqual(MarkdownText.inline("-->"), "--&gt;")
        XCTAssertEqual(MarkdownText.inline("a|b"), "a\\|b")
        XCTAssertEqual(MarkdownText.inline("`x`"), "\\`x\\`")
        XCTAssertEqual(MarkdownText.inline("<script>&"), "&lt;script&gt;&amp;")
        XCTAssertEqual(MarkdownText.inline("__init__.py"), "\\_\\_init\\_\\_.py")
        XCTAssertEqual(MarkdownText.inline("\u{1b}[2J"), "\\\\x1b\\[2J")
        XCTAssertEqual(MarkdownText.inline("/usr/bin/node"), "/usr/bin/node")
        for value in Self.hostileValues {
            let text = MarkdownText.inline(value)
            Self.assertInert(text, allowingLineFeeds: false, value)
            XCTAssertFalse(text.contains("<"), value)
            XCTAssertFalse(text.contains(">"), value)
            XCTAssertEqual(Self.unescapedCount(of: "|", in: text), 0, value)
            XCTAssertEqual(Self.unescapedCount(of: "`", in: text), 0, value)
        }
    }

    func testMarkdownCodeSpanCannotBeClosedFromInside() {
        XCTAssertEqual(MarkdownText.code("npm install"), "`npm install`")
        XCTAssertEqual(MarkdownText.code("a`b"), "``a`b``")
        XCTAssertEqual(MarkdownText.code("```"), "```` ``` ````")
        XCTAssertEqual(MarkdownText.code("`start"), "`` `start ``")
        XCTAssertEqual(MarkdownText.code(" both "), "`  both  `")
        XCTAssertEqual(MarkdownText.code("a|b", inTable: true), "`a\\|b`")
        XCTAssertEqual(MarkdownText.code("a|b"), "`a|b`")
        XCTAssertEqual(MarkdownText.code("\r<!--"), "`\\r<!--`")
        for value in Self.hostileValues {
            let span = MarkdownText.code(value, inTable: true)
            Self.assertInert(span, allowingLineFeeds: false, value)
            // The fence is longer than any run of backticks inside.
            let fence = span.prefix { $0 == "`" }.count
            let inside = span.dropFirst(fence).dropLast(fence)
            XCTAssertTrue(span.hasSuffix(String(repeating: "`", count: fence)), value)
            XCTAssertFalse(inside.contains(String(repeating: "`", count: fence)), value)
            XCTAssertEqual(Self.unescapedCount(of: "|", in: String(inside)), 0, value)
        }
    }

    func testXMLTextEscapesMarkupAndCharactersXMLForbids() {
        XCTAssertEqual(XMLText.escape("<a href=\"x\">&'</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;")
        XCTAssertEqual(XMLText.escape("a\tb\nc\rd"), "a&#9;b&#10;c&#13;d")
        XCTAssertEqual(XMLText.escape("\u{0}\u{1b}[2J\u{7f}\u{9b}\u{FFFE}\u{FFFF}"), "\\x00\\x1b[2J\\x7f\\x9b\\u{fffe}\\u{ffff}")
        XCTAssertEqual(XMLText.escape("é 😀"), "é 😀")
        for value in Self.hostileValues {
            let escaped = XMLText.escape(value)
            Self.assertInert(escaped, allowingLineFeeds: false, value)
            let document = "<r a=\"\(escaped)\">\(escaped)</r>"
            XCTAssertNoThrow(try Self.parseXML(Data(document.utf8)), value)
        }
    }

    func testSARIFTextEscapesBracketsAndControls() {
        XCTAssertEqual(SARIFText.plain("[x](1) \\ \u{1b}[2J"), "\\[x\\](1) \\\\\\\\ \\\\x1b\\[2J")
        XCTAssertEqual(SARIFText.plain("/usr/bin/node"), "/usr/bin/node")
        for value in Self.hostileValues { Self.assertInert(SARIFText.plain(value), allowingLineFeeds: false, value) }
    }

    // MARK: - The writers

    func testTraceTextLinesAreInert() {
        let header = EventHeader(bootTimeNanoseconds: 1_000, kind: .exec, pid: 5, tid: 5, ppid: 4, uid: 1000, gid: 1000, cgroupID: 9)
        let hostile = Self.hostilePath
        let package = InstalledPackage(name: "evil\u{1b}]0;title\u{7}", version: "1.0\r\n", ecosystem: "npm", source: .npm)
        let attribution = Attribution(package: package, reason: .script, evidence: hostile, executablePackage: nil)
        var open = header
        open.kind = .open
        var unlink = header
        unlink.kind = .unlink
        var link = header
        link.kind = .link
        var connect = header
        connect.kind = .connect
        let events: [Event] = [
            .exec(ProcessExec(
                header: header, result: 0, startTimeNanoseconds: 1, filename: hostile, executable: hostile,
                argv: ["node", "-e", "\u{1b}[2J\u{1b}]52;c;AAAA\u{7}", "has space\r\n"], argc: 4, cwd: hostile, environment: [])),
            .open(FileOpen(
                header: open, result: 3, path: hostile, requestedPath: hostile, flags: OpenFlags(rawValue: 0), mode: 0, dirfd: -100,
                count: 1, syscall: .openat)),
            .unlink(FileRemoval(header: unlink, result: 0, path: hostile, requestedPath: hostile, dirfd: -100, isDirectory: false, syscall: .unlink)),
            .link(FileLink(
                header: link, result: 0, operation: .rename, destination: hostile, requestedDestination: hostile, source: hostile,
                requestedSource: hostile, callFlags: 0, syscall: .rename)),
            .connect(NetworkConnect(
                header: connect, result: 0, destination: .unix(path: "@\u{1b}[2J\u{9b}"), socketType: .stream, transport: .unix, fd: 3,
                syscall: .connect)),
        ]
        var clock = WallClock()
        let process = TrackedProcess(pid: 5, ppid: 4, executable: "/usr/bin/\u{1b}[31mnode", argv: ["node"])
        var output = ""
        for event in events {
            output += EventText.line(event, process: process, attribution: attribution, clock: &clock) + "\n"
        }
        // Only the newlines between records: one line per event.
        Self.assertInert(output, allowingLineFeeds: true, "trace")
        XCTAssertEqual(output.split(separator: "\n").count, events.count)
        XCTAssertTrue(output.contains("\\x1b[2J"), output)
        XCTAssertTrue(output.contains("\\x1b]52;c;AAAA\\x07"), output)
        XCTAssertTrue(output.contains("'has space\\r\\n'"), output)
        XCTAssertTrue(output.contains("[evil\\x1b]0;title\\x07@1.0\\r\\n script]"), output)
    }

    func testSummaryKeepsItsStructureAfterAHostileRow() throws {
        let summary = MarkdownSummary.text(Self.report())
        Self.assertInert(summary, allowingLineFeeds: true, "summary.md")
        Self.assertSummaryIntact(summary)
    }

    func testJUnitParsesAndShowsTheValuesVisibly() throws {
        let xml = JUnitReport.text(Self.report())
        Self.assertInert(xml, allowingLineFeeds: true, "junit.xml")
        let cases = try Self.parseXML(Data(xml.utf8))
        XCTAssertEqual(cases.filter { $0.element == "testcase" }.count, 3)
        XCTAssertEqual(cases.filter { $0.element == "failure" }.count, 3)
        let names = cases.compactMap { $0.attributes["name"] }
        XCTAssertTrue(names.contains { $0.contains("\\x1b[2J") && $0.contains("<!--") && $0.contains("\\r") }, "\(names)")
        XCTAssertTrue(names.contains { $0.contains("benign-tail-marker") }, "\(names)")
    }

    func testJSONOutputsStayValidAndKeepTheValues() throws {
        let report = Self.report()
        // violations.json keeps every value exactly.
        let violations = try XCTUnwrap(JSONSerialization.jsonObject(with: ReportWriter.violationsJSON(report)) as? [String: Any])
        let list = try XCTUnwrap(violations["violations"] as? [[String: Any]])
        XCTAssertEqual((list.first?["evidence"] as? [String: Any])?["path"] as? String, Self.hostilePath)
        XCTAssertEqual(violations["command"] as? [String], report.command)
        // SARIF: valid JSON, the evidence kept, the messages made inert.
        let sarif = try XCTUnwrap(JSONSerialization.jsonObject(with: SARIFReport.data(report)) as? [String: Any])
        let run = try XCTUnwrap((sarif["runs"] as? [[String: Any]])?.first)
        // The tool's version is the one `probity --version` prints.
        let driver = ((run["tool"] as? [String: Any])?["driver"] as? [String: Any])
        XCTAssertEqual(driver?["semanticVersion"] as? String, ProbityVersion.string)
        let results = try XCTUnwrap(run["results"] as? [[String: Any]])
        XCTAssertEqual(results.count, 3)
        for result in results {
            let text = try XCTUnwrap((result["message"] as? [String: Any])?["text"] as? String)
            Self.assertInert(text, allowingLineFeeds: false, "SARIF message")
        }
        let evidence = (results.first?["properties"] as? [String: Any])?["evidence"] as? [String: Any]
        XCTAssertEqual(evidence?["path"] as? String, Self.hostilePath)
        // events.jsonl: one line per event, each parses and keeps the path.
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        let encoder = EventJSONEncoder(fd: fds[1])
        let header = EventHeader(bootTimeNanoseconds: 1_000, kind: .open, pid: 5, tid: 5, ppid: 4, uid: 0, gid: 0, cgroupID: 1)
        for value in Self.hostileValues + [Self.hostilePath] {
            encoder.write(.open(FileOpen(
                header: header, result: 3, path: value, requestedPath: value, flags: OpenFlags(rawValue: 0), mode: 0, dirfd: -100,
                count: 1, syscall: .openat)), process: TrackedProcess(pid: 5, ppid: 4, executable: value, argv: [value]))
        }
        encoder.flush()
        close(fds[1])
        let data = FileHandle(fileDescriptor: fds[0], closeOnDealloc: true).readDataToEndOfFile()
        let lines = data.split(separator: UInt8(ascii: "\n"))
        XCTAssertEqual(lines.count, Self.hostileValues.count + 1)
        for (line, value) in zip(lines, Self.hostileValues + [Self.hostilePath]) {
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
            XCTAssertEqual(object["path"] as? String, value)
        }
    }

    /// What `probity run --report DIR` writes, over a violation whose path, argv and package name
    /// hold every hostile value.
    func testReportDirectoryEndToEnd() throws {
        let directory = NSTemporaryDirectory() + "probity-output-safety-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let report = Self.report()
        try ReportWriter.write(report, to: directory)

        let summary = try String(contentsOfFile: directory + "/summary.md", encoding: .utf8)
        Self.assertInert(summary, allowingLineFeeds: true, "summary.md")
        Self.assertSummaryIntact(summary)

        let junit = try Data(contentsOf: URL(fileURLWithPath: directory + "/junit.xml"))
        Self.assertInert(String(decoding: junit, as: UTF8.self), allowingLineFeeds: true, "junit.xml")
        XCTAssertEqual(try Self.parseXML(junit).filter { $0.element == "failure" }.count, 3)
        #if canImport(FoundationXML) || os(macOS)
        let document = try XMLDocument(data: junit)
        XCTAssertEqual(try document.nodes(forXPath: "//testcase").count, 3)
        #endif

        let sarif = try Data(contentsOf: URL(fileURLWithPath: directory + "/report.sarif"))
        XCTAssertNotNil(try JSONSerialization.jsonObject(with: sarif) as? [String: Any])
        let violations = try Data(contentsOf: URL(fileURLWithPath: directory + "/violations.json"))
        XCTAssertNotNil(try JSONSerialization.jsonObject(with: violations) as? [String: Any])

        // $GITHUB_STEP_SUMMARY: appended twice, both summaries whole.
        let step = directory + "/step-summary.md"
        try ReportWriter.appendSummary(report, to: step)
        try ReportWriter.appendSummary(report, to: step)
        let appended = try String(contentsOfFile: step, encoding: .utf8)
        Self.assertInert(appended, allowingLineFeeds: true, "step summary")
        XCTAssertEqual(appended.components(separatedBy: "## Probity: ❌ failed").count, 3)
        XCTAssertEqual(appended.components(separatedBy: "</details>").count, 3)
    }

    // MARK: - Fixtures and checks

    /// A failed run: a hostile violation (critical, first in the table), then two ordinary ones.
    func testASummaryNeverCallsAFailedCommandAPass() {
        func heading(status: Int32, failures: [String]) -> String {
            let report = RunReport(
                command: ["nosuchcmd"], commandStatus: status, mode: "audit", startTime: "2026-01-01T00:00:00Z", durationSeconds: 0.1,
                policyFiles: ["builtin"], eventCounts: [:], lostEvents: 0, violations: [], failures: failures)
            return MarkdownSummary.text(report).split(separator: "\n").first.map(String.init) ?? ""
        }
        XCTAssertEqual(heading(status: 0, failures: []), "## Probity: ✅ passed")
        XCTAssertEqual(heading(status: 127, failures: []), "## Probity: ⚠️ no violations, but the command failed (status 127)")
        XCTAssertEqual(heading(status: 127, failures: ["1 violation"]), "## Probity: ❌ failed")
    }

    static func report() -> RunReport {
        func violation(_ severity: Severity, rule: String, path: String, package: InstalledPackage, argv: [String], message: String) -> Violation {
            var evidence = Evidence(operation: "open")
            evidence.path = path
            evidence.access = ["write"]
            return Violation(
                time: "2026-01-01T00:00:00.000000000Z", bootTimeNanoseconds: 1, contract: "default", rule: rule, category: "files",
                severity: severity, action: .alert, enforced: false, enforcement: nil, message: message,
                package: PackageReference(package), attribution: AttributionReference(reason: "script", evidence: path),
                processes: [
                    ProcessLink(pid: 7, executable: path, argv: argv),
                    ProcessLink(pid: 6, executable: "/usr/bin/npm", argv: ["npm", "install"]),
                ],
                evidence: evidence, ruleLocation: "policies/default.yaml:10:5", count: 1)
        }
        let hostileName = "evil`|<!--\u{1b}[2J\r\n" + hostileValues[10]
        let hostile = violation(
            .critical, rule: "no-writes", path: hostilePath,
            package: InstalledPackage(name: hostileName, version: "1.0.0\r<!--", ecosystem: "npm", source: .npm),
            argv: ["node"] + hostileValues, message: "wrote \(hostilePath)")
        let benign = violation(
            .high, rule: "benign-tail-marker", path: "/home/u/.bashrc",
            package: InstalledPackage(name: "left-pad", version: "1.3.0", ecosystem: "npm", source: .npm),
            argv: ["node", "install.js"], message: "wrote /home/u/.bashrc benign-tail-marker")
        let last = violation(
            .low, rule: "last-row-marker", path: "/home/u/.profile",
            package: InstalledPackage(name: "is-odd", version: "3.0.1", ecosystem: "npm", source: .npm),
            argv: ["node", "x.js"], message: "wrote /home/u/.profile last-row-marker")
        return RunReport(
            command: ["npm", "install", "\u{1b}[2J`|<!--"], commandStatus: 0, mode: "audit", startTime: "2026-01-01T00:00:00Z",
            durationSeconds: 1.5, policyFiles: ["builtin"], eventCounts: ["open": 3], lostEvents: 0,
            violations: [hostile, benign, last], failures: ["3 contract violations at or above low severity"])
    }

    /// The summary after the hostile row: three table rows of five cells each, the rows and the
    /// evidence after it present, no HTML but the `<details>` Probity writes.
    static func assertSummaryIntact(_ summary: String, file: StaticString = #filePath, line: UInt = #line) {
        let lines = summary.components(separatedBy: "\n")
        let rows = lines.filter { $0.hasPrefix("| ") && !$0.hasPrefix("| Severity") }
        XCTAssertEqual(rows.count, 3, "table rows", file: file, line: line)
        for row in rows {
            XCTAssertEqual(unescapedCount(of: "|", in: row), 6, row, file: file, line: line)
            XCTAssertEqual(codeSpanFences(in: row) % 2, 0, row, file: file, line: line)
        }
        XCTAssertTrue(rows[0].hasPrefix("| critical |"), rows[0], file: file, line: line)
        XCTAssertTrue(rows[1].hasPrefix("| high |") && rows[1].contains("benign-tail-marker"), rows[1], file: file, line: line)
        XCTAssertTrue(rows[2].hasPrefix("| low |") && rows[2].contains("last-row-marker"), rows[2], file: file, line: line)
        XCTAssertTrue(summary.contains("### 3 violations by 3 packages"), file: file, line: line)
        let evidence = lines.filter { $0.hasPrefix("- **") }
        XCTAssertEqual(evidence.count, 4, "the failure and three evidence items", file: file, line: line)
        XCTAssertTrue(evidence.last?.contains("last-row-marker") ?? false, file: file, line: line)
        XCTAssertEqual(lines.filter { $0.hasPrefix("  - ") }.count, 9, "why, charged to, process chain: three each", file: file, line: line)
        XCTAssertEqual(lines.last(where: { !$0.isEmpty }), "</details>", file: file, line: line)
        for markup in ["<!--", "-->", "<script", "</script"] {
            XCTAssertFalse(summary.contains(markup), markup, file: file, line: line)
        }
        // The only HTML is Probity's own.
        XCTAssertEqual(summary.filter { $0 == "<" }.count, 4, "<details>, <summary>, </summary>, </details>", file: file, line: line)
        XCTAssertTrue(summary.contains("\\\\x1b\\[2J"), "the escape shows as text", file: file, line: line)
    }

    /// No control character but (optionally) line feeds, no bidirectional override, no C1.
    static func assertInert(_ text: String, allowingLineFeeds: Bool, _ context: String, file: StaticString = #filePath, line: UInt = #line) {
        for scalar in text.unicodeScalars where TerminalText.needsEscaping(scalar) && scalar != "\\" {
            if allowingLineFeeds && scalar == "\n" { continue }
            XCTFail("U+\(String(scalar.value, radix: 16)) in the output for \(context.debugDescription)", file: file, line: line)
            return
        }
        XCTAssertFalse(text.utf8.contains(0x1B), file: file, line: line)
    }

    /// Occurrences of `character` not escaped by a backslash.
    static func unescapedCount(of character: Character, in text: String) -> Int {
        var count = 0
        var escaped = false
        for c in text {
            if escaped { escaped = false; continue }
            if c == "\\" { escaped = true } else if c == character { count += 1 }
        }
        return count
    }

    /// Runs of backticks not escaped by a backslash (code spans open and close with one each).
    static func codeSpanFences(in text: String) -> Int {
        var runs = 0
        var inRun = false
        var escaped = false
        for c in text {
            if c == "`" && !escaped {
                if !inRun { runs += 1 }
                inRun = true
            } else {
                inRun = false
            }
            escaped = c == "\\" && !escaped
        }
        return runs
    }

    struct ParsedElement { var element: String; var attributes: [String: String] }

    /// Parses with Foundation's XMLParser; throws its error.
    static func parseXML(_ data: Data) throws -> [ParsedElement] {
        final class Collector: NSObject, XMLParserDelegate {
            var elements: [ParsedElement] = []
            func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String]) {
                elements.append(ParsedElement(element: name, attributes: attributes))
            }
        }
        let parser = XMLParser(data: data)
        let collector = Collector()
        parser.delegate = collector
        guard parser.parse() else {
            throw parser.parserError ?? NSError(domain: "XMLParser", code: 1)
        }
        return collector.elements
    }
}
