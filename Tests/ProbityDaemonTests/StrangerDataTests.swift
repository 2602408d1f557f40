#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbityAttribution
@testable import ProbityDaemon
import ProbityMonitor
import XCTest

/// Data from users is data from strangers (issue 10, item 3): a home full of fake packages
/// changes no attribution of a system file, whether probityd never reads it (its default
/// configuration) or a workspace holds it (`probity run` from that home).
final class StrangerDataTests: XCTestCase {
    /// System files (dpkg's, through the merged-/usr alias too), `/` and unowned places.
    static let systemPaths = [
        "/bin/ls", "/usr/bin/ls", "/usr/bin/python3", "/usr/lib/os-release", "/", "/srv/unowned/dir", "/etc/probity-unowned",
        "/usr/lib/node_modules/corepack/package.json",
    ]

    /// What the index says of each system path: every owner, with its source and match.
    static func attribution(_ index: PathIndex) -> [String] {
        systemPaths.map { path in
            "\(path): " + index.owners(of: path).map { "\($0.package.name) \($0.package.source.rawValue) \($0.match)" }.joined(separator: ", ")
        }
    }

    /// Builds a stranger's home under `home`: npm packages (one named coreutils, one linked to
    /// `/`, one broken), a venv whose RECORD claims `/usr/bin/ls` (absolute and through `..`), an
    /// egg-info claiming it, a user site-packages claiming `/bin/ls`, a project with its own.
    static func makeStrangersHome(_ home: String) throws {
        let fm = FileManager.default
        func file(_ path: String, _ text: String) throws {
            try fm.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        }
        let up = String(repeating: "../", count: 12)
        for modules in [home + "/node_modules", home + "/project/node_modules"] {
            try file(modules + "/coreutils/package.json", #"{"name":"coreutils","version":"6.6.6"}"#)
            try file(modules + "/evil/package.json", #"{"name":"evil","version":"1.0.0"}"#)
            try file(modules + "/broken/package.json", "{not json")
            try fm.createSymbolicLink(atPath: modules + "/x", withDestinationPath: "/")
            try fm.createSymbolicLink(atPath: modules + "/bin", withDestinationPath: "/usr/bin")
        }
        for (venv, python) in [(home + "/venv", "python3.11"), (home + "/project/.venv", "python3.12")] {
            try file(venv + "/pyvenv.cfg", "home = /usr/bin\n")
            let site = "\(venv)/lib/\(python)/site-packages"
            try file(site + "/coreutils-9.1.dist-info/METADATA", "Metadata-Version: 2.1\nName: coreutils\nVersion: 9.1\n\n")
            try file(site + "/coreutils-9.1.dist-info/RECORD", [
                "/usr/bin/ls,sha256=\(String(repeating: "A", count: 43)),1", "\(up)usr/bin/ls,,", "/bin/ls,,", "\(up)bin/ls,,",
                "\(up)usr/lib/os-release,,", "coreutils/__init__.py,,",
            ].joined(separator: "\n"))
            try file(site + "/evil-1.0.egg-info/PKG-INFO", "Metadata-Version: 1.0\nName: evil-egg\nVersion: 1.0\n\n")
            try file(site + "/evil-1.0.egg-info/installed-files.txt", "\(up)usr/bin/ls\n/usr/bin/python3\n../evil/__init__.py\n")
        }
        try file(home + "/.local/lib/python3.11/site-packages/user-1.0.dist-info/METADATA", "Name: user\nVersion: 1\n\n")
        try file(home + "/.local/lib/python3.11/site-packages/user-1.0.dist-info/RECORD", "/bin/ls,,\n\(up)usr/bin/ls,,\nuser/x.py,,\n")
    }

    /// Re-validation hashes files a package's owner may have replaced: a FIFO where a module was
    /// is not hashed (the worker does not block), a symbolic link is followed (the kernel reported
    /// the resolved path anyway), a regular file is.
    func testRevalidationHashesWithoutBlockingOnAFIFO() throws {
        let dir = NSTemporaryDirectory() + "probity-digest-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertEqual(mkfifo(dir + "/module.py", 0o644), 0)
        try Data("abc".utf8).write(to: URL(fileURLWithPath: dir + "/real.py"))
        XCTAssertEqual(symlink(dir + "/real.py", dir + "/link.py"), 0)
        let done = DispatchSemaphore(value: 0)
        let fifo = dir + "/module.py"
        Thread.detachNewThread {
            XCTAssertNil(Revalidator.digest(of: fifo, algorithm: .sha256))
            done.signal()
        }
        if done.wait(timeout: .now() + 2) == .timedOut {
            XCTFail("hashing a FIFO blocked")
            let fd = open(fifo, O_WRONLY | O_NONBLOCK)
            if fd >= 0 { close(fd) }
            _ = done.wait(timeout: .now() + 5)
        }
        let sha256abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        XCTAssertEqual(Revalidator.digest(of: dir + "/real.py", algorithm: .sha256)?.map { String(format: "%02x", $0) }.joined(), sha256abc)
        XCTAssertEqual(Revalidator.digest(of: dir + "/link.py", algorithm: .sha256)?.map { String(format: "%02x", $0) }.joined(), sha256abc)
    }

    func testAStrangersHomeFullOfFakePackagesChangesNoAttributionOfASystemFile() throws {
        let configuration = DaemonConfiguration()
        let fm = FileManager.default
        let saved = fm.currentDirectoryPath
        let savedHome = ProcessInfo.processInfo.environment["HOME"]
        // probityd under systemd: working directory `/`.
        XCTAssertTrue(fm.changeCurrentDirectoryPath("/"))
        defer {
            fm.changeCurrentDirectoryPath(saved)
            if let savedHome { setenv("HOME", savedHome, 1) }
        }
        let before = try AttributionSetup.index(sboms: [], root: "/", verbose: false, discovery: configuration.discovery)
        let baseline = Self.attribution(before)
        XCTAssertTrue(baseline.contains("/usr/bin/ls: coreutils dpkg file"), "\(baseline)")

        let home = NSTemporaryDirectory() + "probity-stranger-\(getpid())"
        try? fm.removeItem(atPath: home)
        defer { try? fm.removeItem(atPath: home) }
        try Self.makeStrangersHome(home)
        setenv("HOME", home, 1)

        // The daemon's index (the function it builds it with, its default configuration).
        let after = try AttributionSetup.index(sboms: [], root: "/", verbose: false, discovery: configuration.discovery)
        XCTAssertEqual(Self.attribution(after), baseline)
        XCTAssertEqual(after.packages.count, before.packages.count, "nothing of the home was read")
        XCTAssertNil(after.owner(of: home + "/node_modules/evil/index.js"))
        XCTAssertFalse(PackageDiscovery.sitePackages(configuration.discovery).contains { $0.hasPrefix(home) }, "no digests from the home")

        // The home as a workspace (`probity run` started in it) with its user site-packages: its
        // packages are read, and still own nothing outside it.
        var options = DiscoveryOptions()
        options.workspaces = [home]
        options.sitePackages = PythonDistributions.defaultSitePackages(home: home)
        XCTAssertTrue(options.sitePackages.contains(home + "/.local/lib/python3.11/site-packages"))
        let found = PackageDiscovery.discover(options)
        XCTAssertEqual(Self.attribution(found.index), baseline)
        XCTAssertEqual(found.index.owner(of: home + "/node_modules/evil/index.js")?.package.name, "evil", "the home was read")
        XCTAssertEqual(found.index.owner(of: home + "/project/node_modules/evil/index.js")?.package.name, "evil")
        XCTAssertEqual(found.index.owner(of: home + "/venv/bin/x")?.package.name, nil)
        XCTAssertEqual(found.index.owner(of: home + "/venv/lib/python3.11/site-packages/coreutils/__init__.py")?.package.source, .pip)
        let problems = found.problems.joined(separator: "\n")
        XCTAssertTrue(problems.contains("\(home)/node_modules/x: leads to `/`, outside \(home)"), problems)
        XCTAssertTrue(problems.contains("\(home)/node_modules/broken/package.json: not valid JSON"), problems)
        XCTAssertTrue(problems.contains("RECORD:1: `/usr/bin/ls` is `/usr/bin/ls`, outside the distribution's prefix \(home)/venv"), problems)
    }
}
