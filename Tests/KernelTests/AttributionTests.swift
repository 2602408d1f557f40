#if canImport(Glibc)
import Glibc
#endif
import Foundation
import XCTest
import ProbityAttribution
import ProbityEvents

/// Attribution end to end on the real kernel: real npm, pip and node, fixture packages built
/// locally (the npm registry is not reachable; nothing here needs the network).
final class AttributionTests: XCTestCase {
    private func shell(_ script: String, in dir: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", script]
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, script)
    }

    private func index(workspace: String) -> PathIndex {
        var options = DiscoveryOptions()
        options.workspaces = [workspace]
        return PackageDiscovery.discover(options).index
    }

    /// The attribution of the first open of `path` in `run`.
    private func attributionOfOpen(_ path: String, _ run: TracedRun) -> Attribution? {
        for (event, attribution) in zip(run.events, run.attributions) {
            if case .open(let o) = event, o.path == path { return attribution }
        }
        return nil
    }

    func testNpmPostinstallFromAnOfflineTarball() throws {
        let root = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let marker = root + "/secret.txt"
        FileManager.default.createFile(atPath: marker, contents: Data("s".utf8))
        try FileManager.default.createDirectory(atPath: root + "/evil-pkg", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/app", withIntermediateDirectories: true)
        try Data("""
            {"name":"evil-pkg","version":"1.0.0","scripts":{"postinstall":"node postinstall.js"}}
            """.utf8).write(to: URL(fileURLWithPath: root + "/evil-pkg/package.json"))
        try Data("require('fs').readFileSync('\(marker)');".utf8).write(to: URL(fileURLWithPath: root + "/evil-pkg/postinstall.js"))
        try Data("{\"name\":\"app\",\"version\":\"0.0.1\"}".utf8).write(to: URL(fileURLWithPath: root + "/app/package.json"))
        try shell("npm pack --silent ../evil-pkg >/dev/null", in: root + "/app")

        let run = try Kernel.trace(
            ["/bin/sh", "-c", "cd \(root)/app && npm install --offline --no-audit --no-fund ./evil-pkg-1.0.0.tgz >/dev/null 2>&1"],
            attribution: index(workspace: root))
        XCTAssertEqual(run.exitStatus, 0, "npm install --offline worked")
        let a = try XCTUnwrap(attributionOfOpen(marker, run), "the postinstall's read was seen")
        XCTAssertEqual(a.package?.name, "evil-pkg")
        XCTAssertEqual(a.package?.version, "1.0.0")
        XCTAssertEqual(a.package?.source, .npm)
        // The lifecycle shell narrows to the package (npm-lifecycle); the node it forks keeps it.
        XCTAssertTrue([.npmLifecycle, .script, .inherited].contains(a.reason), "\(a)")
    }

    /// pip builds the sdist in an isolated environment (it fetches setuptools and wheel from
    /// PyPI, which these machines reach); setup.py runs in the unpacked sdist, beside its PKG-INFO.
    func testPythonSdistSetupPyIsAttributedToItsPackage() throws {
        let root = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let marker = root + "/setup-marker.txt"
        FileManager.default.createFile(atPath: marker, contents: Data("m".utf8))
        try FileManager.default.createDirectory(atPath: root + "/src", withIntermediateDirectories: true)
        try Data("""
            import os
            from setuptools import setup
            os.system('cat \(marker) > /dev/null')
            setup(name='sneaky-sdist', version='0.3.0', py_modules=[])
            """.utf8).write(to: URL(fileURLWithPath: root + "/src/setup.py"))
        try shell("python3 setup.py -q sdist -d \(root)/dist >/dev/null 2>&1", in: root + "/src")
        let run = try Kernel.trace(
            ["/bin/sh", "-c", "cd / && python3 -m pip install -q --no-deps --target \(root)/target \(root)/dist/sneaky-sdist-0.3.0.tar.gz >/dev/null 2>&1"],
            attribution: index(workspace: root))
        XCTAssertEqual(run.exitStatus, 0, "pip installed the local sdist")
        let reads = zip(run.events, run.attributions).compactMap { e, a -> Attribution?? in
            if case .open(let o) = e, o.path == marker { return a } else { return nil }
        }
        // setup.py runs twice (egg_info, then bdist_wheel / install); every read is the sdist's.
        XCTAssertFalse(reads.isEmpty, "setup.py's read was seen")
        for a in reads {
            XCTAssertEqual(a?.package?.name, "sneaky-sdist", "\(String(describing: a))")
            // The build process is the sdist's (python-build); the `sh -c cat` it starts keeps it.
            XCTAssertTrue([.pythonBuild, .inherited].contains(a?.reason), "\(String(describing: a))")
        }
    }

    func testSBOMListedScriptIsAttributedToItsComponent() throws {
        let root = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try Data("cat /etc/hostname > /dev/null\n".utf8).write(to: URL(fileURLWithPath: root + "/vendor-hook.sh"))
        let sbom = """
            {"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"library","name":"vendored-hooks",
             "version":"4.2.0","purl":"pkg:generic/vendored-hooks@4.2.0","bom-ref":"vh",
             "evidence":{"occurrences":[{"location":"vendor-hook.sh"}]}}]}
            """
        let document = try SBOMReader.read(data: Data(sbom.utf8), source: "inline.cdx.json")
        var index = index(workspace: root)
        XCTAssertEqual(SBOMIndexing.add(document, to: &index, root: root), 1)
        let run = try Kernel.trace(["/bin/sh", "\(root)/vendor-hook.sh"], attribution: index)
        let a = try XCTUnwrap(attributionOfOpen("/etc/hostname", run))
        XCTAssertEqual(a.package?.name, "vendored-hooks")
        XCTAssertEqual(a.package?.source, .sbom)
        XCTAssertEqual(a.package?.purl, "pkg:generic/vendored-hooks@4.2.0")
        XCTAssertEqual(a.reason, .inherited, "cat inherits from the sh running the SBOM's script")
    }

    func testPythonDashMAndNodeScript() throws {
        let root = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let pkg = root + "/node_modules/@acme/tool"
        try FileManager.default.createDirectory(atPath: pkg, withIntermediateDirectories: true)
        try Data("{\"name\":\"@acme/tool\",\"version\":\"2.0.0\"}".utf8).write(to: URL(fileURLWithPath: pkg + "/package.json"))
        try Data("require('fs').readFileSync('/etc/hostname');".utf8).write(to: URL(fileURLWithPath: pkg + "/cli.js"))
        let run = try Kernel.trace(
            ["/bin/sh", "-c", "cd \(root) && node node_modules/@acme/tool/cli.js && python3 -m pip --version >/dev/null"],
            attribution: index(workspace: root))
        let node = try XCTUnwrap(attributionOfOpen("/etc/hostname", run))
        XCTAssertEqual(node.package?.name, "@acme/tool")
        XCTAssertEqual(node.reason, .script)
        XCTAssertEqual(node.executablePackage?.source, .dpkg, "node itself is Debian's")
        let pipExec = zip(run.events, run.attributions).first { e, _ in
            if case .exec(let x) = e {
                return x.executable.contains("python") && x.argv.contains("pip") && x.argv.contains("-m")
            } else { return false }
        }
        let pip = try XCTUnwrap(pipExec?.1)
        XCTAssertEqual(pip.package?.name, "pip")
        XCTAssertEqual(pip.reason, .script)
    }
}
