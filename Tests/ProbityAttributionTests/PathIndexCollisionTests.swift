import ProbityEvents
import XCTest
@testable import ProbityAttribution

/// Issue 9: no decision rests on a hash alone. A real 64-bit collision cannot be found in a test's
/// time, so the tests force them with the `keyMask` hook: 0 gives every path the same key.
final class PathIndexCollisionTests: XCTestCase {
    private func package(_ name: String, _ ecosystem: String = "pypi", _ source: InstalledPackage.Source = .pip) -> InstalledPackage {
        InstalledPackage(name: name, version: "1", ecosystem: ecosystem, source: source)
    }

    func testCollidingFilePathsEachFindTheirOwnOwner() {
        var index = PathIndex()
        index.keyMask = 0
        let pip = index.add(package("pip"))
        let requests = index.add(package("requests"))
        let coreutils = index.add(package("coreutils", "deb", .dpkg))
        let other = index.add(package("other", "deb", .dpkg))
        let pipFile = "/usr/lib/python3/dist-packages/pip/_internal/cli/main.py"
        let requestsFile = "/usr/lib/python3/dist-packages/requests/api.py"
        XCTAssertEqual(PathIndex.hash(pipFile) & index.keyMask, PathIndex.hash(requestsFile) & index.keyMask)
        index.addFile(pipFile, package: pip)
        index.addFile(requestsFile, package: requests)
        index.addFile("/usr/bin/ls", package: coreutils)
        index.addFile("/usr/share/doc", package: coreutils)
        index.addFile("/usr/share/doc", package: other)
        index.addFile(pipFile, package: pip)  // again: no new entry

        XCTAssertEqual(index.fileCount, 4)
        XCTAssertEqual(index.ownerID(of: pipFile), pip)
        XCTAssertEqual(index.ownerID(of: requestsFile), requests)
        XCTAssertEqual(index.owner(of: pipFile)?.package.name, "pip")
        XCTAssertEqual(index.owner(of: requestsFile)?.package.name, "requests")
        XCTAssertEqual(index.owner(of: "/usr/bin/ls")?.match, .file)
        XCTAssertEqual(Set(index.owners(of: "/usr/share/doc").map(\.package.name)), ["coreutils", "other"])

        // A third path with the same key, not in the index: nobody's, above all not pip's.
        for stranger in ["/tmp/x.py", "/usr/lib/python3/dist-packages/pip/_internal/cli/main.pyc",
                         "/usr/lib/python3/dist-packages/pip/_internal/cli/main.p", "", "/"] {
            XCTAssertNil(index.ownerID(of: stranger), stranger)
            XCTAssertNil(index.owner(of: stranger), stranger)
            XCTAssertTrue(index.owners(of: stranger).isEmpty, stranger)
        }
    }

    func testPartialCollisionsAtScale() {
        // 8-bit keys: ~20 paths per key among 5,000, over the table's growth.
        var index = PathIndex()
        index.keyMask = 0xff
        var ids: [UInt32] = []
        for p in 0..<50 { ids.append(index.add(package("p\(p)"))) }
        func path(_ i: Int) -> String { "/opt/site/p\(i % 50)/mod\(i / 50)/f\(i).py" }
        for i in 0..<5_000 { index.addFile(path(i), package: ids[i % 50]) }
        XCTAssertEqual(index.fileCount, 5_000)
        for i in 0..<5_000 {
            XCTAssertEqual(index.ownerID(of: path(i)), ids[i % 50])
            XCTAssertNil(index.ownerID(of: path(i) + "c"))
            XCTAssertNil(index.ownerID(of: "/tmp/f\(i).py"))
        }
    }

    func testRootMatchRequiresTheRootAsAWholeComponentPrefix() {
        var index = PathIndex()
        index.keyMask = 0  // every prefix of every path hits every root's key
        let pip = index.add(package("pip"))
        let left = index.add(package("left-pad", "npm", .npm))
        index.addRoot("/usr/lib/python3/dist-packages/pip", package: pip)
        index.addRoot("/w/node_modules/left-pad/", package: left)

        XCTAssertEqual(index.ownerID(of: "/usr/lib/python3/dist-packages/pip/__main__.py"), pip)
        XCTAssertEqual(index.owner(of: "/usr/lib/python3/dist-packages/pip")?.match, .root("/usr/lib/python3/dist-packages/pip"))
        XCTAssertEqual(index.ownerID(of: "/w/node_modules/left-pad/index.js"), left)
        for stranger in ["/tmp/evil.py", "/tmp/pip/evil.py", "/usr/lib/python3/dist-packages/pipx/x.py",
                         "/usr/lib/python3/dist-packages/pi", "/usr/lib/python3/dist-packages", "/usr",
                         "/w/node_modules/left-pa/x.js", "/w/node_modules/left-pad-x/x.js"] {
            XCTAssertNil(index.ownerID(of: stranger), stranger)
            XCTAssertNil(index.owner(of: stranger), stranger)
        }

        // The same root again goes to the later package; a colliding different root is its own.
        let other = index.add(package("other"))
        index.addRoot("/usr/lib/python3/dist-packages/pip", package: other)
        index.addRoot("/opt/other", package: pip)
        XCTAssertEqual(index.owner(of: "/usr/lib/python3/dist-packages/pip/x.py")?.package.name, "other")
        XCTAssertEqual(index.owner(of: "/opt/other/y")?.package.name, "pip")
    }

    func testAliasesUnderCollisions() {
        var index = PathIndex()
        index.keyMask = 0
        let coreutils = index.add(package("coreutils", "deb", .dpkg))
        let libc = index.add(package("libc6", "deb", .dpkg))
        index.addFile("/bin/ls", package: coreutils)
        index.addRoot("/lib/x86_64-linux-gnu/security", package: libc)
        index.addAlias("/bin", target: "/usr/bin")
        index.addAlias("/lib", target: "/usr/lib")

        XCTAssertEqual(index.ownerID(of: "/usr/bin/ls"), coreutils)
        XCTAssertEqual(index.owner(of: "/usr/bin/ls")?.match, .file)
        XCTAssertEqual(index.ownerID(of: "/usr/lib/x86_64-linux-gnu/security/pam_unix.so"), libc)
        XCTAssertNil(index.ownerID(of: "/usr/bin/lx"))
        XCTAssertNil(index.ownerID(of: "/usr/binx/ls"))
        XCTAssertNil(index.ownerID(of: "/tmp/ls"))
    }

    func testDigestIndexComparesPaths() {
        var digests = DigestIndex()
        digests.keyMask = 0
        let a = DigestIndex.Digest(algorithm: .sha256, bytes: [UInt8](repeating: 0xaa, count: 32))
        let b = DigestIndex.Digest(algorithm: .md5, bytes: [UInt8](repeating: 0xbb, count: 16))
        let c = DigestIndex.Digest(algorithm: .md5, bytes: [UInt8](repeating: 0xcc, count: 16))
        let pipFile = "/usr/lib/python3/dist-packages/pip/__init__.py"
        digests.add(pipFile, a, source: .pip)
        digests.add("/usr/bin/ls", b, source: .dpkg)

        XCTAssertEqual(digests.count, 2)
        XCTAssertEqual(digests.expected(for: pipFile)?.digest, a)
        XCTAssertEqual(digests.expected(for: pipFile)?.source, .pip)
        XCTAssertEqual(digests.expected(for: "/usr/bin/ls")?.digest, b)
        XCTAssertNil(digests.expected(for: "/tmp/__init__.py"), "a colliding path has no recorded digest")
        XCTAssertNil(digests.expected(for: "/usr/bin/l"))

        digests.add("/usr/bin/ls", c, source: .sbom)  // a later record replaces
        XCTAssertEqual(digests.count, 2)
        XCTAssertEqual(digests.expected(for: "/usr/bin/ls")?.digest, c)
        XCTAssertEqual(digests.expected(for: "/usr/bin/ls")?.source, .sbom)
        XCTAssertEqual(digests.expected(for: pipFile)?.digest, a)
    }

    func testDigestIndexWithoutForcedCollisions() {
        var digests = DigestIndex()
        for i in 0..<2_000 {
            digests.add("/usr/share/d\(i / 40)/f\(i)", .init(algorithm: .md5, bytes: [UInt8(i & 0xff), UInt8(i >> 8)]), source: .dpkg)
        }
        XCTAssertEqual(digests.count, 2_000)
        for i in 0..<2_000 {
            XCTAssertEqual(digests.expected(for: "/usr/share/d\(i / 40)/f\(i)")?.digest.bytes, [UInt8(i & 0xff), UInt8(i >> 8)])
            XCTAssertNil(digests.expected(for: "/usr/share/d\(i / 40)/g\(i)"))
        }
    }

    /// The table compares a path in two parts: its directory (the bytes up to the last `/`, stored
    /// once, the first 56 inline in the directory table) and its name (up to 15 bytes inline in
    /// the slot, with the length; longer names as 8 bytes, the length and the stored rest). Paths
    /// that differ only where one of those parts is stored out of line, or only in length or in
    /// zero bytes, must still be told apart, with every key colliding and without.
    func testNamesAndDirectoriesAreComparedInFull() {
        let longDirectory = "/opt/" + String(repeating: "d", count: 60) + "/"
        let names = ["", "a", "abcdefg", "abcdefgh", "abcdefghi", "abcdefghijklmno", "abcdefghijklmnop",
                     "abcdefghijklmnopq", String(repeating: "n", count: 40), "ls", "ls\0", "ls\0\0", "\0"]
        var stored: [String] = []
        for directory in ["/", "/usr/bin/", "/usr/bin/x/", longDirectory, "rel/"] {
            for name in names { stored.append(directory + name) }
        }
        stored.append("no-slash")
        let twin = "/opt/" + String(repeating: "d", count: 59) + "e/"  // as long as longDirectory, differs at byte 64
        stored.append(twin + "abcdefghijklmnop")
        for mask: UInt64 in [0, 0xff, .max] {
            var index = PathIndex()
            index.keyMask = mask
            var ids: [UInt32] = []
            for (i, path) in stored.enumerated() {
                ids.append(index.add(package("p\(i)")))
                index.addFile(path, package: ids[i])
            }
            XCTAssertEqual(index.fileCount, stored.count)
            for (i, path) in stored.enumerated() {
                XCTAssertEqual(index.ownerID(of: path), ids[i], "\(path.debugDescription) mask \(mask)")
            }
            let strangers = ["/usr/bin/abcdefghijklmnoq", "/usr/bin/abcdefghijklmnoP", "/usr/bin/" + String(repeating: "n", count: 39) + "m",
                             "/usr/bin/" + String(repeating: "n", count: 41), "/usr/bin/abcdefgi", "/usr/bin/ls\0\0\0", "/usr/bin/\0\0",
                             "/usr/bin/abcdefghijklmn", twin + "a", twin + "ls", "/opt/" + String(repeating: "d", count: 59) + "f/abcdefghijklmnop",
                             String(longDirectory.dropLast(2)) + "/a",
                             "/usr/bin/x", "/usr/bin", "/usr/bin//ls", "/usr/sbin/ls", "//ls", "no-slasH", "no-slash/", "rel", "/rel/ls"]
            for stranger in strangers {
                XCTAssertNil(index.ownerID(of: stranger), "\(stranger.debugDescription) mask \(mask)")
            }
        }
    }

    /// Many names of every length over the table's growth, with full keys and with 4-bit keys.
    func testNamesOfEveryLengthOverGrowth() {
        for mask: UInt64 in [0xf, .max] {
            var digests = DigestIndex()
            digests.keyMask = mask
            func path(_ i: Int) -> String { "/srv/d\(i % 97)/" + String(repeating: "x", count: i % 37) + "\(i)" }
            for i in 0..<3_000 { digests.add(path(i), .init(algorithm: .md5, bytes: [UInt8(i & 0xff), UInt8(i >> 8)]), source: .dpkg) }
            XCTAssertEqual(digests.count, 3_000)
            for i in 0..<3_000 {
                XCTAssertEqual(digests.expected(for: path(i))?.digest.bytes, [UInt8(i & 0xff), UInt8(i >> 8)], path(i))
                XCTAssertNil(digests.expected(for: path(i) + "0"))
                XCTAssertNil(digests.expected(for: "/srv/d\(i % 97)x/" + String(repeating: "x", count: i % 37) + "\(i)"))
            }
        }
    }
}
