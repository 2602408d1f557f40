import Foundation
import XCTest
@testable import ProbityProbes

final class NameServiceCacheTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "probity-nscd-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    private func program(_ name: String, _ body: String) throws -> String {
        let path = directory + "/" + name
        try "#!/bin/sh\n\(body)\n".write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return path
    }

    func testNothingToDoWithoutNSCD() {
        XCTAssertEqual(NameServiceCache.invalidateHosts(socket: directory + "/no-socket"), .absent)
    }

    func testAsksNSCDToDropItsHostsCache() throws {
        let socket = try program("socket", "")
        let asked = directory + "/asked"
        let nscd = try program("nscd", "echo \"$@\" > \(asked)")
        XCTAssertEqual(NameServiceCache.invalidateHosts(socket: socket, programs: [directory + "/missing", nscd]), .invalidated)
        XCTAssertEqual(try String(contentsOfFile: asked, encoding: .utf8), "--invalidate=hosts\n")
    }

    func testFailuresSayWhy() throws {
        let socket = try program("socket", "")
        let refusing = try program("nscd", "exit 3")
        let outcome = NameServiceCache.invalidateHosts(socket: socket, programs: [refusing])
        XCTAssertTrue(outcome.isFailure)
        XCTAssertEqual(outcome.description, "nscd's hosts cache could not be dropped: \(refusing) --invalidate=hosts exited with status 3")
        let missing = NameServiceCache.invalidateHosts(socket: socket, programs: [directory + "/none"])
        XCTAssertTrue(missing.description.contains("no nscd program was found"), missing.description)
    }
}
