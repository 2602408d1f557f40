#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbityAttribution
import Synchronization
import XCTest

final class LoadedCodeTests: XCTestCase {
    func testWhichOpensAreCode() {
        for path in ["/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib/libz.so", "/srv/app/m.py", "/srv/node_modules/a/i.js",
                     "/a/b.mjs", "/a/b.cjs", "/a/addon.node"] {
            XCTAssertTrue(Revalidator.isLoadedCode(path), path)
        }
        for path in ["/etc/hostname", "/a/so.txt", "/a.so.d/config", "/a/b.pyc.txt", "/a/json", "py"] {
            XCTAssertFalse(Revalidator.isLoadedCode(path), path)
        }
    }
}

/// `probity approve`'s set, written as CycloneDX and read back, and the verifier that holds a
/// tree to it: a changed file is `hash-mismatch` (once per version of the file), a file the set
/// does not list is `unlisted`, an unchanged one nothing; restoring the file restores the verdict.
final class ApprovedSetTests: XCTestCase {
    var tree = ""

    override func setUpWithError() throws {
        var template = Array("/tmp/probity-approve-XXXXXX".utf8CString)
        tree = try XCTUnwrap(mkdtemp(&template).map { String(cString: $0) })
        try FileManager.default.createDirectory(atPath: tree + "/lib/pkg", withIntermediateDirectories: true)
        try "print('ok')\n".write(toFile: tree + "/lib/pkg/__init__.py", atomically: true, encoding: .utf8)
        try "#!/bin/sh\n".write(toFile: tree + "/run.sh", atomically: true, encoding: .utf8)
        symlink("/etc/passwd", tree + "/outside-link")
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: tree) }

    func testRoundTripAndVerdicts() throws {
        let set = try ApprovedSet.approve(root: tree)
        XCTAssertEqual(Set(set.files.keys), ["lib/pkg/__init__.py", "run.sh"], "regular files only; the link is not followed")
        let file = tree + "/approved.cdx.json"
        try set.cycloneDX().write(to: URL(fileURLWithPath: file))
        let document = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as? [String: Any])
        XCTAssertEqual(document["bomFormat"] as? String, "CycloneDX")
        XCTAssertEqual(document["specVersion"] as? String, "1.6")
        let read = try ApprovedSet.load(file)
        XCTAssertEqual(read.root, set.root)
        XCTAssertEqual(read.files, set.files)
        // Any CycloneDX reader sees the files and their hashes.
        let sbom = try SBOMReader.read(contentsOf: file)
        XCTAssertEqual(sbom.files.count, 2)

        var digests = DigestIndex()
        read.add(to: &digests)
        digests.addObjects()
        let findings = Mutex<[Revalidator.Finding]>([])
        let verifier = Revalidator(digests: digests, scopes: [read.root]) { f in findings.withLock { $0.append(f) } }
        verifier.start()
        defer { verifier.stop() }
        let module = read.root + "/lib/pkg/__init__.py"
        func check(_ path: String) -> [String] {
            findings.withLock { $0.removeAll() }
            verifier.consider(path, pid: 1, executable: "/usr/bin/python3")
            verifier.waitUntilIdle()
            return findings.withLock { $0.map(\.rule) }
        }
        XCTAssertEqual(check(module), [], "unchanged")
        try "import os; os.system('id')\n".write(toFile: module, atomically: false, encoding: .utf8)
        XCTAssertEqual(check(module), ["hash-mismatch"])
        XCTAssertEqual(check(module), [], "reported once per version of the file")
        let dropped = read.root + "/lib/pkg/evil.so"
        try "ELF".write(toFile: dropped, atomically: true, encoding: .utf8)
        XCTAssertEqual(check(dropped), ["unlisted"])
        XCTAssertEqual(check("/etc/hostname"), [], "outside every approved tree: nothing to say")
        try "print('ok')\n".write(toFile: module, atomically: false, encoding: .utf8)
        XCTAssertEqual(check(module), [], "restored: the verdict is restored")
        let mismatch = try XCTUnwrap({ () -> Revalidator.Finding? in
            try? "changed again\n".write(toFile: module, atomically: false, encoding: .utf8)
            verifier.consider(module, pid: 1, executable: "")
            verifier.waitUntilIdle()
            return findings.withLock { $0.last }
        }())
        XCTAssertEqual(mismatch.source, "approved")
        XCTAssertEqual(mismatch.expected, set.files["lib/pkg/__init__.py"].map { $0.map { String(format: "%02x", $0) }.joined() })
    }

    /// A hostile approved set: a file component that leaves the tree, or a set with no root.
    func testHostileSetsAreRefused() throws {
        let escape = tree + "/escape.json"
        try """
            {"bomFormat":"CycloneDX","specVersion":"1.6","serialNumber":"urn:uuid:x","version":1,
             "metadata":{"timestamp":"2026-01-01T00:00:00Z","tools":{"components":[]},"component":{"type":"application","name":"t"},
               "properties":[{"name":"probity:approved-root","value":"\(tree)"}]},
             "components":[{"type":"file","name":"../../etc/shadow","hashes":[{"alg":"SHA-256","content":"\(String(repeating: "0", count: 64))"}]}]}
            """.write(toFile: escape, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ApprovedSet.load(escape)) { XCTAssertTrue("\($0)".contains("leaves the tree"), "\($0)") }
        let rootless = tree + "/rootless.json"
        try #"{"bomFormat":"CycloneDX","specVersion":"1.6","serialNumber":"u","version":1,"metadata":{"timestamp":"t","tools":{"components":[]},"component":{"type":"application","name":"t"},"properties":[]},"components":[]}"#
            .write(toFile: rootless, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ApprovedSet.load(rootless)) { XCTAssertTrue("\($0)".contains("probity:approved-root"), "\($0)") }
        XCTAssertThrowsError(try ApprovedSet.approve(root: tree + "/run.sh"))
    }
}
