#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbityContracts
import ProbitySinks
import XCTest

/// The violation store holds every user's paths and command lines: owner and group may read it,
/// nobody else, whatever the umask of whoever started probityd.
final class ViolationStoreModeTests: XCTestCase {
    func testTheStoreIsNeverWorldReadable() throws {
        var template = Array("/tmp/probity-store-XXXXXX".utf8CString)
        let dir = try XCTUnwrap(mkdtemp(&template).map { String(cString: $0) })
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let old = umask(0)
        defer { umask(old) }
        let path = dir + "/violations.sqlite"
        var evidence = Evidence(operation: "open")
        evidence.path = "/home/u/.ssh/id_rsa"
        let violation = Violation(
            time: "2026-01-01T00:00:00Z", bootTimeNanoseconds: 1, contract: "default", rule: "credential-read", category: "secrets",
            severity: .critical, action: .alert, enforced: false, enforcement: nil, message: "m", package: nil,
            attribution: AttributionReference(reason: "workspace", evidence: ""), processes: [], evidence: evidence,
            ruleLocation: "x", count: 1)
        do {
            let store = try ViolationStore(path: path)
            try store.insert(violation, unixNanoseconds: 1)
            for file in [path, path + "-wal", path + "-shm"] where FileManager.default.fileExists(atPath: file) {
                var info = stat()
                XCTAssertEqual(stat(file, &info), 0)
                XCTAssertEqual(info.st_mode & 0o777, 0o640, file)
            }
        }
        // A store made 0666 by someone else is narrowed when opened.
        chmod(path, 0o666)
        _ = try ViolationStore(path: path)
        var info = stat()
        XCTAssertEqual(stat(path, &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o640)
        // A link in the store's place is not followed.
        let link = dir + "/link.sqlite"
        symlink("/etc/passwd", link)
        XCTAssertThrowsError(try ViolationStore(path: link))
    }
}
