import Foundation
import ProbityEvents
import XCTest
@testable import ProbityAttribution

final class PathIndexTests: XCTestCase {
    func testExactLongestRootSharedAndAliases() {
        var index = PathIndex()
        let a = index.add(InstalledPackage(name: "a", version: "1", ecosystem: "npm", source: .npm))
        let b = index.add(InstalledPackage(name: "b", version: "2", ecosystem: "npm", source: .npm))
        let c = index.add(InstalledPackage(name: "coreutils", version: "9", ecosystem: "deb", source: .dpkg))
        let d = index.add(InstalledPackage(name: "other", version: nil, ecosystem: "deb", source: .dpkg))
        index.addRoot("/w/node_modules/a", package: a)
        index.addRoot("/w/node_modules/a/node_modules/b/", package: b)
        index.addFile("/bin/ls", package: c)
        index.addFile("/usr/share/doc", package: c)
        index.addFile("/usr/share/doc", package: d)
        index.addAlias("/bin", target: "/usr/bin")

        XCTAssertEqual(index.owner(of: "/w/node_modules/a/index.js")?.package.name, "a")
        XCTAssertEqual(index.owner(of: "/w/node_modules/a/node_modules/b/lib/x.js")?.package.name, "b")
        XCTAssertEqual(index.owner(of: "/w/node_modules/a/node_modules/b")?.match, .root("/w/node_modules/a/node_modules/b"))
        XCTAssertNil(index.owner(of: "/w/node_modules/ab/x.js"), "a prefix match must end at a path component")
        XCTAssertEqual(index.owner(of: "/usr/bin/ls")?.package.name, "coreutils", "found through the /bin alias")
        XCTAssertEqual(index.owner(of: "/bin/ls")?.match, .file)
        XCTAssertEqual(Set(index.owners(of: "/usr/share/doc").map(\.package.name)), ["coreutils", "other"])
        XCTAssertTrue(index.owners(of: "/nothing/here").isEmpty)
        XCTAssertEqual(index.fileCount, 2)
    }

    func testPurls() {
        XCTAssertEqual(InstalledPackage(name: "@scope/pkg", version: "1.0.0", ecosystem: "npm", source: .npm).purl, "pkg:npm/%40scope/pkg@1.0.0")
        XCTAssertEqual(InstalledPackage(name: "Typing_Extensions", version: "4", ecosystem: "pypi", source: .pip).purl, "pkg:pypi/typing-extensions@4")
    }
}

final class PackageDatabaseTests: XCTestCase {
    /// `probity whose` agrees with `dpkg -S` on 1,000 files sampled from this machine's database.
    func testDpkgAgreesWithDpkgS() throws {
        var index = PathIndex()
        let packages = try DpkgDatabase.load(into: &index)
        XCTAssertGreaterThan(packages, 100, "this machine's dpkg database was read")

        var candidates: [String] = []
        let info = "/var/lib/dpkg/info"
        for list in try FileManager.default.contentsOfDirectory(atPath: info) where list.hasSuffix(".list") {
            let text = try String(contentsOfFile: info + "/" + list, encoding: .utf8)
            for path in text.split(separator: "\n") where !path.contains(where: { "*?[]\\ ".contains($0) }) {
                var isDir: ObjCBool = false
                if FileManager.default.fileExists(atPath: String(path), isDirectory: &isDir), !isDir.boolValue {
                    candidates.append(String(path))
                }
            }
        }
        var generator = SplitMix(seed: 20261124)
        candidates.shuffle(using: &generator)
        let sample = Array(candidates.prefix(1000))
        XCTAssertEqual(sample.count, 1000)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/dpkg-query")
        process.arguments = ["-S"] + sample
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        var expected: [String: Set<String>] = [:]
        for line in output.split(separator: "\n") where !line.hasPrefix("diversion by") {
            guard let sep = line.range(of: ": ") else { continue }
            let owners = line[..<sep.lowerBound].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            expected[String(line[sep.upperBound...]), default: []].formUnion(owners)
        }
        var agree = 0
        var disagreements: [String] = []
        for path in sample {
            let ours = Set(index.owners(of: path).filter { $0.match == .file }.map(\.package.qualifiedName))
            if ours == expected[path] { agree += 1 } else { disagreements.append("\(path): ours \(ours) dpkg \(expected[path] ?? [])") }
        }
        XCTAssertEqual(agree, 1000, disagreements.prefix(5).joined(separator: "\n"))
    }

    /// A real virtual environment (pip comes with it, offline): every file pip's RECORD lists
    /// resolves to pip.
    func testVenvRecordFilesResolveToTheirDistribution() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("probity-venv-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let venv = Process()
        venv.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        venv.arguments = ["python3", "-m", "venv", dir]
        try venv.run()
        venv.waitUntilExit()
        XCTAssertEqual(venv.terminationStatus, 0, "python3 -m venv")
        let lib = dir + "/lib"
        let python = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: lib).first { $0.hasPrefix("python3") })
        let site = "\(lib)/\(python)/site-packages"

        var index = PathIndex()
        XCTAssertGreaterThanOrEqual(try PythonDistributions.load(into: &index, sitePackages: site), 1)
        let record = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: site).first { $0.hasPrefix("pip-") && $0.hasSuffix(".dist-info") })
        let rows = try String(contentsOfFile: "\(site)/\(record)/RECORD", encoding: .utf8).split(whereSeparator: \.isNewline)
        XCTAssertGreaterThan(rows.count, 100)
        for row in rows {
            let relative = String(row.split(separator: ",", omittingEmptySubsequences: false)[0])
            let path = PathText.normalize(site + "/" + relative)
            XCTAssertEqual(index.owner(of: path)?.package.name, "pip", path)
        }
        XCTAssertEqual(index.owner(of: site + "/pip/dropped_later.py")?.package.name, "pip", "a new file in pip's directory is pip's")
    }

    func testDpkgDatabaseErrorsNameFileAndLine() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("probity-dpkg-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/info", withIntermediateDirectories: true)
        try Data("Package: tool\nStatus: install ok installed\nVersion: 1.2-3\nArchitecture: amd64\n\n".utf8)
            .write(to: URL(fileURLWithPath: root + "/status"))
        try Data("/.\n/usr/bin/tool\n".utf8).write(to: URL(fileURLWithPath: root + "/info/tool.list"))
        var index = PathIndex()
        XCTAssertEqual(try DpkgDatabase.load(into: &index, root: root), 1)
        let owner = try XCTUnwrap(index.owner(of: "/usr/bin/tool")?.package)
        XCTAssertEqual(owner.version, "1.2-3")
        XCTAssertEqual(owner.purl, "pkg:deb/debian/tool@1.2-3?arch=amd64")

        // One bad line costs that line, with a warning naming the file and line.
        try Data("Package: tool\nthis line has no colon\nVersion: 1.2-4\n".utf8).write(to: URL(fileURLWithPath: root + "/status"))
        var broken = PathIndex()
        var warnings: [String] = []
        XCTAssertEqual(try DpkgDatabase.load(into: &broken, root: root, warn: { warnings.append("\($0)") }), 1)
        XCTAssertEqual(warnings, ["\(root)/status:2: expected 'Field: value'; row skipped"])
        XCTAssertEqual(broken.owner(of: "/usr/bin/tool")?.package.version, "1.2-4")
    }

    /// Hostile `.list` lines (relative, a NUL byte, 100 kB long) cost those lines; the rest count.
    func testDpkgListBadLinesCostThoseLines() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("probity-dpkg-lines-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/info", withIntermediateDirectories: true)
        try Data("Package: tool\nStatus: install ok installed\nVersion: 1\n\n".utf8).write(to: URL(fileURLWithPath: root + "/status"))
        let long = "/" + String(repeating: "a", count: 100_000)
        try Data("/usr/bin/tool\nrelative/path\n/usr/bin/nul\u{0}x\n\(long)\n/usr/bin/also\n".utf8)
            .write(to: URL(fileURLWithPath: root + "/info/tool.list"))
        var index = PathIndex()
        var warnings: [String] = []
        XCTAssertEqual(try DpkgDatabase.load(into: &index, root: root, warn: { warnings.append("\($0)") }), 1)
        XCTAssertEqual(index.owner(of: "/usr/bin/tool")?.package.name, "tool")
        XCTAssertEqual(index.owner(of: "/usr/bin/also")?.package.name, "tool")
        XCTAssertEqual(warnings, [
            "\(root)/info/tool.list:2: `relative/path` is not an absolute path; row skipped",
            "\(root)/info/tool.list:3: a path with a NUL byte; row skipped",
            "\(root)/info/tool.list:4: a path of 100001 bytes (longer than 4096); row skipped",
        ])
    }

    /// A RECORD written by a stranger: rows naming files outside the distribution's prefix
    /// (absolute, or `..` out of it), without a path, with a NUL byte or 1 MB long are skipped
    /// with warnings (three, then a count); the good rows count; a sibling distribution is unhurt.
    func testHostileRecordRowsCostThoseRows() throws {
        let venv = FileManager.default.temporaryDirectory.appendingPathComponent("probity-record-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: venv) }
        let site = venv + "/lib/python3.11/site-packages"
        func distribution(_ name: String, _ record: String) throws {
            let info = "\(site)/\(name)-1.0.dist-info"
            try FileManager.default.createDirectory(atPath: info, withIntermediateDirectories: true)
            try Data("Metadata-Version: 2.1\nName: \(name)\nVersion: 1.0\n\n".utf8).write(to: URL(fileURLWithPath: info + "/METADATA"))
            try Data(record.utf8).write(to: URL(fileURLWithPath: info + "/RECORD"))
        }
        let huge = String(repeating: "x", count: 1 << 20)
        try distribution("evil", [
            "evil/__init__.py,sha256=x,1",
            "/etc/shadow,sha256=\(String(repeating: "A", count: 43)),1",
            "../../../../../../../../../../usr/bin/ls,,",
            ",,",
            "evil/nul\u{0}.py,,",
            "\(huge),,",
            "\"unterminated",
            "../../../bin/evil-tool,,",
            "/usr/bin/ls,,",
        ].joined(separator: "\n"))
        try distribution("good", "good/__init__.py,,\n")
        XCTAssertEqual(PythonDistributions.installPrefix(of: site), venv)
        var index = PathIndex()
        var warnings: [String] = []
        XCTAssertEqual(try PythonDistributions.load(into: &index, sitePackages: site, warn: { warnings.append("\($0)") }), 2)
        XCTAssertEqual(index.owner(of: site + "/evil/__init__.py")?.package.name, "evil")
        XCTAssertEqual(index.owner(of: venv + "/bin/evil-tool")?.package.name, "evil", "the venv's own bin is inside the prefix")
        XCTAssertEqual(index.owner(of: site + "/good/__init__.py")?.package.name, "good")
        XCTAssertNil(index.owner(of: "/etc/shadow"))
        XCTAssertNil(index.owner(of: "/usr/bin/ls"))
        let record = "\(site)/evil-1.0.dist-info/RECORD"
        XCTAssertEqual(warnings, [
            "\(record):2: `/etc/shadow` is `/etc/shadow`, outside the distribution's prefix \(venv); row skipped",
            "\(record):3: `../../../../../../../../../../usr/bin/ls` is `/usr/bin/ls`, outside the distribution's prefix \(venv); row skipped",
            "\(record):4: a row without a path; row skipped",
            "\(record): 4 more rows skipped",
        ])
        // The digests re-validation takes from RECORDs obey the same rule.
        var digests = DigestIndex()
        digests.addPythonRecords(sitePackages: site)
        XCTAssertNil(digests.expected(for: "/etc/shadow"))
    }

    func testRecordCSVQuoting() {
        XCTAssertEqual(PythonDistributions.firstCSVField(ArraySlice(Array("a/b.py,sha256=x,12".utf8))), "a/b.py")
        XCTAssertEqual(PythonDistributions.firstCSVField(ArraySlice(Array("\"a,b \"\"q\"\".py\",,".utf8))), "a,b \"q\".py")
        XCTAssertNil(PythonDistributions.firstCSVField(ArraySlice(Array("\"unterminated".utf8))))
    }

    /// npm trees: nested node_modules, scoped packages, a symlinked workspace package.
    func testNpmTreeNestedScopedAndSymlinked() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("probity-npm-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        func package(_ dir: String, _ name: String, _ version: String) throws {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try Data("{\"name\":\"\(name)\",\"version\":\"\(version)\"}".utf8).write(to: URL(fileURLWithPath: dir + "/package.json"))
        }
        try package("\(root)/node_modules/a", "a", "1.0.0")
        try package("\(root)/node_modules/a/node_modules/b", "b", "2.0.0")
        try package("\(root)/node_modules/@scope/c", "@scope/c", "3.0.0")
        try package("\(root)/packages/ws", "ws-local", "0.1.0")
        try FileManager.default.createSymbolicLink(atPath: "\(root)/node_modules/ws-local", withDestinationPath: "../packages/ws")

        var index = PathIndex()
        XCTAssertEqual(try NpmTree.load(into: &index, nodeModules: root + "/node_modules"), 4)
        XCTAssertEqual(index.owner(of: "\(root)/node_modules/a/index.js")?.package.name, "a")
        XCTAssertEqual(index.owner(of: "\(root)/node_modules/a/node_modules/b/lib/x.js")?.package.version, "2.0.0")
        XCTAssertEqual(index.owner(of: "\(root)/node_modules/@scope/c/x.js")?.package.purl, "pkg:npm/%40scope/c@3.0.0")
        XCTAssertEqual(index.owner(of: "\(root)/packages/ws/index.js")?.package.name, "ws-local", "the resolved path of a symlinked workspace")
        XCTAssertEqual(index.owner(of: "\(root)/node_modules/ws-local/index.js")?.package.name, "ws-local")

        XCTAssertNil(index.owner(of: "\(root)/node_modules/a/x.js")?.package.isDirect, "no lock file: unknown")

        // With a package-lock.json: a is direct, b (nested under a) transitive.
        try Data("""
            {"name":"app","lockfileVersion":3,"packages":{"":{"name":"app","dependencies":{"a":"^1.0.0","@scope/c":"3"}},
             "node_modules/a":{"version":"1.0.0"},"node_modules/a/node_modules/b":{"version":"2.0.0"},
             "node_modules/@scope/c":{"version":"3.0.0","dev":true}}}
            """.utf8).write(to: URL(fileURLWithPath: "\(root)/package-lock.json"))
        var locked = PathIndex()
        try NpmTree.load(into: &locked, nodeModules: root + "/node_modules")
        XCTAssertEqual(locked.owner(of: "\(root)/node_modules/a/x.js")?.package.isDirect, true)
        XCTAssertEqual(locked.owner(of: "\(root)/node_modules/a/node_modules/b/x.js")?.package.isDirect, false)
        XCTAssertEqual(locked.owner(of: "\(root)/node_modules/@scope/c/x.js")?.package.isDirect, true)
        try FileManager.default.removeItem(atPath: "\(root)/package-lock.json")

        // One bad package.json costs its package (and what is nested in it), with a warning.
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: "\(root)/node_modules/a/package.json"))
        try Data("{\"version\":\"1\"}".utf8).write(to: URL(fileURLWithPath: "\(root)/node_modules/@scope/c/package.json"))
        var broken = PathIndex()
        var warnings: [String] = []
        XCTAssertEqual(try NpmTree.load(into: &broken, nodeModules: root + "/node_modules", warn: { warnings.append("\($0)") }), 1)
        XCTAssertEqual(broken.owner(of: "\(root)/packages/ws/index.js")?.package.name, "ws-local")
        XCTAssertNil(broken.owner(of: "\(root)/node_modules/a/index.js"))
        XCTAssertEqual(warnings.count, 2, "\(warnings)")
        XCTAssertTrue(warnings[0].hasPrefix("\(root)/node_modules/@scope/c/package.json: no usable \"name\" string; package skipped"), "\(warnings)")
        XCTAssertTrue(warnings[1].hasPrefix("\(root)/node_modules/a/package.json: not valid JSON"), "\(warnings)")
    }

    /// `node_modules/x -> /` (and a package linked to a directory outside the project) is refused
    /// with a warning: it owns nothing, least of all every unowned directory.
    func testAPackageLinkedOutOfItsTreeIsRefused() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("probity-npm-out-\(getpid())").path
        let outside = FileManager.default.temporaryDirectory.appendingPathComponent("probity-npm-elsewhere-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: root); try? FileManager.default.removeItem(atPath: outside) }
        try FileManager.default.createDirectory(atPath: root + "/node_modules/ok", withIntermediateDirectories: true)
        try Data("{\"name\":\"ok\"}".utf8).write(to: URL(fileURLWithPath: root + "/node_modules/ok/package.json"))
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try Data("{\"name\":\"far\"}".utf8).write(to: URL(fileURLWithPath: outside + "/package.json"))
        try FileManager.default.createSymbolicLink(atPath: root + "/node_modules/x", withDestinationPath: "/")
        try FileManager.default.createSymbolicLink(atPath: root + "/node_modules/far", withDestinationPath: outside)
        var index = PathIndex()
        var warnings: [String] = []
        XCTAssertEqual(try NpmTree.load(into: &index, nodeModules: root + "/node_modules", warn: { warnings.append("\($0)") }), 1)
        XCTAssertEqual(index.owner(of: root + "/node_modules/ok/a.js")?.package.name, "ok")
        XCTAssertNil(index.owner(of: "/srv/unowned/dir"), "x owns nothing")
        XCTAssertNil(index.owner(of: outside + "/index.js"))
        XCTAssertNil(index.owner(of: root + "/node_modules/x/etc"))
        XCTAssertEqual(warnings.sorted(), [
            "\(root)/node_modules/far: leads to `\(outside)`, outside \(root): not a package of this tree; skipped",
            "\(root)/node_modules/x: leads to `/`, outside \(root): not a package of this tree; skipped",
        ])
    }
}

/// A small seeded generator, so samples are the same on every run.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// An SBOM made in the test run by a real generator (cyclonedx-bom from PyPI, in a venv with a
/// few real packages): its components are the venv's distributions, and every file a
/// distribution's RECORD lists resolves to that distribution.
final class GeneratedSBOMTests: XCTestCase {
    func testCycloneDXPyEnvironmentSBOM() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("probity-cdx-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func sh(_ script: String) throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", script]
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0, script)
        }
        try sh("python3 -m venv \(dir)/venv && \(dir)/venv/bin/pip install -q --disable-pip-version-check cyclonedx-bom six")
        try sh("\(dir)/venv/bin/cyclonedx-py environment --of JSON -o \(dir)/sbom.json \(dir)/venv")
        let sbom = try SBOMReader.read(contentsOf: "\(dir)/sbom.json")
        XCTAssertEqual(sbom.format, .cycloneDXJSON)

        let lib = dir + "/venv/lib"
        let python = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: lib).first { $0.hasPrefix("python3") })
        let site = "\(lib)/\(python)/site-packages"
        var index = PathIndex()
        try PythonDistributions.load(into: &index, sitePackages: site)
        let names = Set(sbom.components.map { $0.name.lowercased() })
        XCTAssertTrue(names.isSuperset(of: ["cyclonedx-bom", "six"]), "\(names)")

        var checked = 0
        for entry in try FileManager.default.contentsOfDirectory(atPath: site) where entry.hasSuffix(".dist-info") {
            let meta = try XCTUnwrap(PythonDistributions.readMetadata("\(site)/\(entry)/METADATA"))
            let normalized = meta.name.lowercased().replacingOccurrences(of: "_", with: "-")
            if !["pip", "setuptools"].contains(normalized) {
                XCTAssertTrue(names.contains(normalized) || names.contains(meta.name.lowercased()), "\(meta.name) is in the SBOM")
            }
            let rows = try String(contentsOfFile: "\(site)/\(entry)/RECORD", encoding: .utf8).split(whereSeparator: \.isNewline)
            for row in rows {
                let relative = String(row.split(separator: ",", omittingEmptySubsequences: false)[0])
                let path = PathText.normalize(site + "/" + relative)
                XCTAssertEqual(index.owner(of: path)?.package.name, meta.name, path)
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 500)
    }
}
