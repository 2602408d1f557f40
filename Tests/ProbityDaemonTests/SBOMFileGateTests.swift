#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbityDaemon
import XCTest

/// `load-sbom` reads only regular files inside the configured directories, never through a
/// link, and at most the size limit, counted while reading.
final class SBOMFileGateTests: XCTestCase {
    private var directory = ""
    private var gate = SBOMFileGate(directories: [], maximumBytes: 0)

    override func setUpWithError() throws {
        var template = Array("/tmp/probity-sbom-gate-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw POSIXError(.EIO) }
        directory = String(cString: p)
        gate = SBOMFileGate(directories: [directory + "/sboms/"], maximumBytes: 1 << 20)
        try FileManager.default.createDirectory(atPath: directory + "/sboms/team", withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    private func refusal(_ path: String, file: StaticString = #filePath, line: UInt = #line) -> SBOMFileError? {
        do {
            let data = try gate.read(path)
            XCTFail("\(path) was read (\(data.count) bytes)", file: file, line: line)
            return nil
        } catch {
            return error
        }
    }

    func testAFileInsideIsRead() throws {
        try "{}".write(toFile: directory + "/sboms/team/app.json", atomically: true, encoding: .utf8)
        XCTAssertEqual(try gate.read(directory + "/sboms/team/app.json"), Data("{}".utf8))
    }

    func testOutsideTheDirectoriesIsRefused() {
        let shadow = refusal("/etc/shadow")
        XCTAssertEqual(shadow?.errno, EACCES)
        XCTAssertTrue(shadow?.description.hasPrefix("/etc/shadow: is outside the sbom-directories (\(directory)/sboms)") == true, "\(String(describing: shadow))")
        XCTAssertTrue(refusal(directory + "/sboms/../../../etc/shadow")?.message.contains("`..`") == true)
        XCTAssertTrue(refusal(directory + "/sboms-evil/x.json")?.message.contains("outside") == true, "a prefix is not a directory")
        XCTAssertTrue(SBOMFileGate(directories: [], maximumBytes: 1).read2("/etc/probity/sbom/a.json").contains("load-sbom is off"))
    }

    func testLinksAreNotFollowed() throws {
        XCTAssertEqual(symlink("/etc/shadow", directory + "/sboms/shadow.json"), 0)
        let link = refusal(directory + "/sboms/shadow.json")
        XCTAssertEqual(link?.errno, ELOOP)
        XCTAssertTrue(link?.message.hasPrefix("is a symbolic link") == true, "\(String(describing: link))")
        // A linked directory below the configured one leads out of it too.
        XCTAssertEqual(symlink("/etc", directory + "/sboms/etc"), 0)
        let through = refusal(directory + "/sboms/etc/passwd")
        XCTAssertTrue(through?.message.contains("goes through etc") == true, "\(String(describing: through))")
    }

    func testOnlyRegularFiles() throws {
        let fifo = directory + "/sboms/fifo.json"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let started = Date()
        XCTAssertEqual(refusal(fifo)?.message, "is a FIFO, not a regular file")
        XCTAssertLessThan(Date().timeIntervalSince(started), 1, "opening a FIFO with no writer does not block")
        XCTAssertEqual(refusal(directory + "/sboms/team")?.message, "is a directory, not a regular file")
        XCTAssertEqual(refusal(directory + "/sboms/missing.json")?.errno, ENOENT)
    }

    func testASparseFileIsCutAtTheLimitWhileReading() throws {
        let sparse = directory + "/sboms/huge.json"
        let fd = open(sparse, O_CREAT | O_WRONLY, 0o600)
        XCTAssertEqual(ftruncate(fd, 2 << 30), 0)
        close(fd)
        let started = Date()
        let error = refusal(sparse)
        XCTAssertEqual(error?.errno, EFBIG)
        XCTAssertEqual(error?.message, "is larger than the 1048576-byte limit (sbom-max-bytes)")
        XCTAssertLessThan(Date().timeIntervalSince(started), 1)
    }
}

extension SBOMFileGate {
    /// The refusal's text, or "" when the file was read.
    func read2(_ path: String) -> String {
        do { _ = try read(path); return "" } catch { return error.description }
    }
}
