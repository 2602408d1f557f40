#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbityAttribution
import ProbityEvents
import XCTest

/// The digest table finds a listed file by the name the kernel gives it and by its object: dpkg
/// lists `bin/x`, a merged-/usr system runs `/usr/bin/x` (the case of /usr/bin/zdiff, listed as
/// `bin/zdiff`); a bind mount or hard link of a listed file is the same file. In a scratch root
/// of the test's own, never the machine's /usr.
final class DigestIndexObjectTests: XCTestCase {
    func testMergedUsrAliasesAndOtherNamesFindTheListedDigest() throws {
        var template = Array("/tmp/probity-digests-XXXXXX".utf8CString)
        let root = try XCTUnwrap(mkdtemp(&template).map { String(cString: $0) })
        defer { try? FileManager.default.removeItem(atPath: root) }
        let fm = FileManager.default
        try fm.createDirectory(atPath: root + "/usr/bin", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: root + "/var/lib/dpkg/info", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: root + "/opt", withIntermediateDirectories: true)
        try fm.createSymbolicLink(atPath: root + "/bin", withDestinationPath: "usr/bin")
        try "#!/bin/sh\necho x\n".write(toFile: root + "/usr/bin/x", atomically: true, encoding: .utf8)
        let md5 = String(repeating: "ab", count: 16)
        try "\(md5)  bin/x\n\(md5)  bin/missing\n".write(toFile: root + "/var/lib/dpkg/info/x.md5sums", atomically: true, encoding: .utf8)
        XCTAssertEqual(link(root + "/usr/bin/x", root + "/opt/x-hardlink"), 0)

        var digests = DigestIndex.discover(dpkgRoot: root + "/var/lib/dpkg", fileRoot: root, sitePackages: [])
        digests.addObjects()
        let real = try XCTUnwrap(realpath(root + "/usr/bin/x", nil).map { p in defer { free(p) }; return String(cString: p) })
        let byName = try XCTUnwrap(digests.expected(for: real), "the listed bin/x is found as the kernel names it, \(real)")
        XCTAssertEqual(byName.digest.hex, md5)
        XCTAssertEqual(byName.source, .dpkg)
        var info = stat()
        XCTAssertEqual(stat(root + "/opt/x-hardlink", &info), 0)
        let byObject = try XCTUnwrap(digests.expected(for: FileObject(statDevice: UInt64(info.st_dev), inode: UInt64(info.st_ino))),
                                     "another name of the same file")
        XCTAssertEqual(byObject.path, real)
        XCTAssertNil(digests.expected(for: root + "/opt/x-hardlink"), "by name, only the listed one")
        XCTAssertEqual(digests.count, 2, "a listed file that does not exist is kept by name")
    }
}
