import Foundation
import ProbityDaemon
import XCTest

/// Decoding and validating control requests: every bad field is an error naming the field and
/// the request, never a trap.
final class ControlRequestTests: XCTestCase {
    private func decode(_ text: String) -> Result<ControlRequest, ControlRequestError> {
        do { return .success(try ControlRequest.decode(Array(text.utf8), now: Date(timeIntervalSince1970: 1_760_000_000))) } catch {
            return .failure(error)
        }
    }

    private func error(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> String {
        switch decode(text) {
        case .success(let request): XCTFail("\(text) was accepted as \(request)", file: file, line: line); return ""
        case .failure(let error): return error.message
        }
    }

    func testSinceOutOfRangeIsAnErrorNamingTheField() {
        for since in ["1733100000000", "\"1733100000000\"", "1e300", "\"1e300\"", "-5", "\"-5\"", "\"NaN\"", "\"nan\"", "\"inf\"",
                      "\"-infinity\"", "\"1e300d\"", "\"-5s\"", "\"3000-01-01T00:00:00Z\"", "true", "[1]", "\"yesterday\""] {
            let message = error("{\"request\":\"violations\",\"since\":\(since)}")
            XCTAssertTrue(message.hasPrefix("`since` of `violations`"), "\(since): \(message)")
        }
        XCTAssertTrue(error("{\"request\":\"violations\",\"since\":1733100000000}").contains("milliseconds by mistake"))
        XCTAssertTrue(error("{\"request\":\"violations\",\"since\":-5}").contains("must not be negative"))
        XCTAssertTrue(error("{\"request\":\"violations\",\"since\":\"NaN\"}").contains("finite"))
        XCTAssertTrue(error("{\"request\":\"violations\",\"since\":\"1e300d\"}").contains("before 1970"))
    }

    func testSinceInRange() throws {
        let now = 1_760_000_000.0
        func since(_ value: String) throws -> Int64? {
            guard case .violations(let q) = try decode("{\"request\":\"violations\",\"since\":\(value)}").get() else { return nil }
            return q.sinceUnixNanoseconds
        }
        XCTAssertEqual(try since("1733100000"), 1_733_100_000_000_000_000)
        XCTAssertEqual(try since("\"1733100000.5\""), 1_733_100_000_500_000_000)
        XCTAssertEqual(try since("\"1h\""), Int64((now - 3600) * 1e9))
        XCTAssertEqual(try since("\"2025-01-01T00:00:00Z\""), 1_735_689_600_000_000_000)
        XCTAssertEqual(try since("0"), 0)
    }

    func testUnknownFieldsAndWrongTypesAreNamed() {
        XCTAssertEqual(error("{\"request\":\"status\",\"verbose\":true}"), "unknown field `verbose` in `status` (it takes none)")
        XCTAssertTrue(error("{\"request\":\"violations\",\"limt\":5,\"sinse\":\"1h\"}")
            .hasPrefix("unknown fields `limt`, `sinse` in `violations` (it takes limit, package, rule, severity, since)"))
        XCTAssertEqual(error("{\"request\":\"violations\",\"limit\":\"5\"}"), "`limit` of `violations` must be an integer from 0 to 10000, not a string")
        XCTAssertEqual(error("{\"request\":\"violations\",\"limit\":10001}"), "`limit` of `violations` must be an integer from 0 to 10000, not 10001")
        XCTAssertEqual(error("{\"request\":\"events\",\"limit\":-1}"), "`limit` of `events` must be an integer from 0 to 10000, not -1")
        XCTAssertTrue(error("{\"request\":\"events\",\"limit\":1e300}").hasPrefix("`limit` of `events` must be an integer from 0 to 10000, not 1"))
        XCTAssertEqual(error("{\"request\":\"violations\",\"package\":7}"), "`package` of `violations` must be a string, not a number")
        XCTAssertEqual(error("{\"request\":\"violations\",\"severity\":\"dire\"}"), "`severity` of `violations` must be low, medium, high or critical, not \"dire\"")
        XCTAssertTrue(error("{\"request\":\"follow\",\"what\":[\"violations\",\"gossip\"]}").hasPrefix("`what` of `follow` must be"))
        XCTAssertTrue(error("{\"request\":\"follow\",\"what\":[]}").hasPrefix("`what` of `follow` must name at least one"))
        XCTAssertTrue(error("{\"request\":\"follow\",\"kind\":\"teleport\"}").hasPrefix("`kind` of `follow` must be an event kind"))
        XCTAssertEqual(error("{\"request\":\"whose\",\"paths\":[\"/bin/sh\",3]}"), "`paths` of `whose` must be an array of strings; item 1 is a number")
        XCTAssertTrue(error("{\"request\":\"whose\"}").hasPrefix("`whose` needs \"paths\""))
        XCTAssertTrue(error("{\"request\":\"load-sbom\",\"path\":\"relative.json\"}").hasPrefix("`load-sbom` needs \"path\""))
        XCTAssertTrue(error("{\"request\":7}").hasPrefix("`request` must be a string"))
        XCTAssertTrue(error("{\"request\":\"frobnicate\"}").hasPrefix("unknown request `frobnicate`"))
        XCTAssertTrue(error("{\"x\":1}").hasPrefix("missing \"request\""))
        XCTAssertTrue(error("[1,2]").hasPrefix("not a JSON object"))
        XCTAssertTrue(error("{\"request\":\"status\"").hasPrefix("not a JSON object"))
        XCTAssertTrue(error("{\"request\":\"status\",\"since\":NaN}").hasPrefix("not a JSON object"))
        // Control characters in what is echoed are escaped.
        XCTAssertTrue(error("{\"request\":\"x\\u001b[2J\"}").hasPrefix("unknown request `x\\u001b[2J`"))
    }

    func testGoodRequests() throws {
        XCTAssertEqual(try decode("{\"request\":\"status\"}").get(), .status)
        XCTAssertEqual(try decode("{\"request\":\"follow\"}").get(), .follow(FollowRequest()))
        XCTAssertEqual(try decode("{\"request\":\"follow\",\"what\":\"events\",\"kind\":\"exec\"}").get(), .follow(FollowRequest(what: [.events], kind: "exec")))
        XCTAssertEqual(try decode("{\"request\":\"violations\",\"limit\":10000,\"severity\":\"high\",\"package\":null}").get(),
                       .violations(ViolationsQuery(minimumSeverity: .high, limit: 10000)))
        XCTAssertEqual(try decode("{\"request\":\"events\"}").get(), .events(EventsQuery(limit: 100)))
        XCTAssertEqual(try decode("{\"request\":\"load-sbom\",\"path\":\"/etc/probity/sbom/a.json\"}").get(),
                       .loadSBOM(LoadSBOMRequest(path: "/etc/probity/sbom/a.json")))
        // What the client encodes, the server decodes.
        for request: ControlRequest in [.status, .reload, .whose(WhoseQuery(paths: ["/bin/sh"])), .events(EventsQuery(limit: 7)),
                                        .follow(FollowRequest(what: [.violations, .events], severity: .critical)),
                                        .violations(ViolationsQuery(sinceUnixNanoseconds: 1_700_000_000_000_000_000, rule: "r", limit: 3))] {
            let line = try JSONEncoder().encode(request)
            XCTAssertEqual(try ControlRequest.decode(Array(line)), request, String(decoding: line, as: UTF8.self))
        }
    }

    func testAnswersAreOneLineWithOk() {
        let line = String(decoding: ControlFailure("no", generation: 3).line(), as: UTF8.self)
        XCTAssertEqual(line, "{\"error\":\"no\",\"generation\":3,\"ok\":false}\n")
    }
}
