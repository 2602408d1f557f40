#if canImport(Glibc)
import Glibc
#endif
import Foundation
import XCTest

/// Issue 9, item 3: the built-in contract without its holes, on the real kernel under
/// `probity run` (audit mode): credential reads judged by the program that reads and by the
/// file's object, memory-backed execs, Python start-up hooks written by a setup.py.
///
/// Who the processes are charged to is decided by attribution (not what these tests are about):
/// a finding's package is checked only where the scenario makes it certain.
final class ContractHoleTests: XCTestCase {
    /// A temporary home with an ed25519 key (made by ssh-keygen) and an ssh config.
    private struct Scene {
        let dir: String
        var home: String { dir + "/home" }
        var key: String { home + "/.ssh/id_ed25519" }
        var work: String { dir + "/work" }

        init() throws {
            dir = try Kernel.temporaryDirectory()
            try FileManager.default.createDirectory(atPath: dir + "/home/.ssh", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: dir + "/work", withIntermediateDirectories: true)
            let made = try Kernel.output("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", dir + "/home/.ssh/id_ed25519"],
                                         mergeErrors: true)
            XCTAssertEqual(made.status, 0, made.text)
            try "Host *\n  StrictHostKeyChecking yes\n".write(toFile: dir + "/home/.ssh/config", atomically: true, encoding: .utf8)
        }

        func remove() { try? FileManager.default.removeItem(atPath: dir) }

        func run(_ command: [String], environment: [String: String] = [:]) throws -> (ProbityCommand.Finished, [[String: Any]]) {
            try? FileManager.default.removeItem(atPath: dir + "/r")
            var env = ["HOME": home]
            env.merge(environment) { $1 }
            let run = try ProbityCommand.run(["run", "--report", dir + "/r", "--"] + command, environment: env, directory: work)
            return (run, try ProbityCommand.violations(dir + "/r").list)
        }

        /// The open events of `executable` on `path`.
        func opens(of path: String, by executable: String) throws -> Int {
            let events = try String(contentsOfFile: dir + "/r/events.jsonl", encoding: .utf8)
            return events.split(separator: "\n").filter { line in
                guard let data = line.data(using: .utf8),
                      let e = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return false }
                return e["kind"] as? String == "open" && e["path"] as? String == path && e["exe"] as? String == executable
            }.count
        }
    }

    private func rules(_ list: [[String: Any]]) -> [String] { list.compactMap { $0["rule"] as? String } }

    /// `cp ~/.ssh/id_ed25519` by the build's own shell: coreutils' code, still a credential read.
    func testCopyingAKeyWithCpIsACredentialRead() throws {
        let scene = try Scene()
        defer { scene.remove() }
        let (run, list) = try scene.run(["/bin/bash", "-c", "cp \"$HOME/.ssh/id_ed25519\" \"$1/stolen\"", "bash", scene.dir])
        XCTAssertEqual(run.status, 86, run.stderr)
        let reads = list.filter { $0["rule"] as? String == "credential-read" }
        let finding = try XCTUnwrap(reads.first, "\(list)")
        XCTAssertEqual((finding["evidence"] as? [String: Any])?["path"] as? String, scene.key)
        let chain = finding["processes"] as? [[String: Any]] ?? []
        XCTAssertEqual(chain.first?["executable"] as? String, "/usr/bin/cp", "\(finding)")
        if let package = finding["package"] as? [String: Any] {
            XCTAssertEqual(package["name"] as? String, "coreutils", "\(finding)")
        }
    }

    /// ssh reading its config (ssh looks in the passwd entry's home, not `$HOME`, so the scene's
    /// is given with `-F`), ssh-keygen reading the key, git running ssh: no finding.
    func testSshAndGitOverSshAreClean() throws {
        let scene = try Scene()
        defer { scene.remove() }
        let script = """
            ssh -F "$HOME/.ssh/config" -o BatchMode=yes -o ConnectTimeout=2 -i "$HOME/.ssh/id_ed25519" -p 1 127.0.0.1 true
            ssh-keygen -y -f "$HOME/.ssh/id_ed25519" > /dev/null
            GIT_TERMINAL_PROMPT=0 GIT_SSH_COMMAND="ssh -F $HOME/.ssh/config" git ls-remote ssh://git@127.0.0.1:1/x.git
            exit 0
            """
        let (run, list) = try scene.run(["/bin/bash", "-c", script])
        XCTAssertEqual(rules(list).filter { $0 == "credential-read" }, [], "\(list)\n\(run.stderr)")
        XCTAssertEqual(run.status, 0, "\(list)\n\(run.stderr)")
        XCTAssertGreaterThan(try scene.opens(of: scene.key, by: "/usr/bin/ssh-keygen"), 0, "ssh-keygen read the key")
        XCTAssertGreaterThanOrEqual(try scene.opens(of: scene.home + "/.ssh/config", by: "/usr/bin/ssh"), 2,
                                    "ssh, and ssh run by git, read the config")
    }

    /// The same ssh with LD_PRELOAD is not a reader any more.
    func testSshWithAPreloadIsNotAReader() throws {
        let scene = try Scene()
        defer { scene.remove() }
        let (run, list) = try scene.run(["/bin/bash", "-c", "ssh-keygen -y -f \"$HOME/.ssh/id_ed25519\" > /dev/null"],
                                        environment: ["LD_PRELOAD": "/usr/lib/x86_64-linux-gnu/libc.so.6"])
        XCTAssertEqual(run.status, 86, run.stderr)
        let finding = try XCTUnwrap(list.first { $0["rule"] as? String == "credential-read" }, "\(list)")
        XCTAssertEqual((finding["processes"] as? [[String: Any]])?.first?["executable"] as? String, "/usr/bin/ssh-keygen")
    }

    /// A hard link to the key in /tmp, read by Python: the same object, a credential read.
    func testAHardLinkToAKeyReadByPythonIsACredentialRead() throws {
        let scene = try Scene()
        defer { scene.remove() }
        XCTAssertEqual(link(scene.key, scene.dir + "/innocent"), 0)
        let (run, list) = try scene.run(["python3", "-c", "import sys; open(sys.argv[1], 'rb').read()", scene.dir + "/innocent"])
        XCTAssertEqual(run.status, 86, run.stderr)
        let finding = try XCTUnwrap(list.first { $0["rule"] as? String == "credential-read" }, "\(list)")
        XCTAssertEqual((finding["evidence"] as? [String: Any])?["path"] as? String, scene.dir + "/innocent")
        XCTAssertTrue((finding["message"] as? String ?? "").contains(scene.key), "\(finding)")
    }

    /// A program written into a memfd and executed from it.
    func testAMemfdExecIsAViolation() throws {
        let scene = try Scene()
        defer { scene.remove() }
        let code = """
            import os
            fd = os.memfd_create('payload', 0)
            os.write(fd, open('/usr/bin/true', 'rb').read())
            os.execv('/proc/self/fd/%d' % fd, ['payload'])
            """
        let (run, list) = try scene.run(["python3", "-c", code])
        XCTAssertEqual(run.status, 86, run.stderr)
        let finding = try XCTUnwrap(list.first { $0["rule"] as? String == "exec-memory-backed" }, "\(list)")
        XCTAssertEqual(finding["severity"] as? String, "critical")
        XCTAssertEqual(rules(list), ["exec-memory-backed"], "\(list)")
    }

    /// A venv made with `python3 -m venv`; setuptools and wheel wheels fetched from PyPI once.
    private func venv(_ scene: Scene) throws -> String {
        let venv = scene.work + "/venv"
        let made = try Kernel.output("/bin/sh", ["-c", """
            set -e
            python3 -m venv "\(venv)"
            "\(venv)/bin/pip" download -q --dest "\(scene.dir)/wheels" setuptools wheel
            "\(venv)/bin/pip" install -q --no-index --find-links "\(scene.dir)/wheels" --upgrade setuptools wheel
            """], mergeErrors: true, environment: ["PIP_DISABLE_PIP_VERSION_CHECK": "1", "PATH": "/root/.pyenv/shims:/usr/bin:/bin"])
        XCTAssertEqual(made.status, 0, made.text)
        return venv
    }

    /// A setup.py that writes `evil.pth` into the venv's site-packages while pip builds it is
    /// flagged; reinstalling setuptools (whose wheel lists distutils-precedence.pth) is not.
    func testASetupPyWritingAPthIsFlaggedAndACleanInstallIsNot() throws {
        let scene = try Scene()
        defer { scene.remove() }
        let venv = try venv(scene)
        let sdist = scene.dir + "/src/evil-pth-0.1"
        try FileManager.default.createDirectory(atPath: sdist, withIntermediateDirectories: true)
        try """
            import os, site
            from setuptools import setup
            with open(os.path.join(site.getsitepackages()[0], 'evil.pth'), 'w') as f:
                f.write('import os\\n')
            setup(name='evil-pth', version='0.1', py_modules=[])
            """.write(toFile: sdist + "/setup.py", atomically: true, encoding: .utf8)
        try "Metadata-Version: 2.1\nName: evil-pth\nVersion: 0.1\n".write(toFile: sdist + "/PKG-INFO", atomically: true, encoding: .utf8)
        let tar = try Kernel.output("/bin/tar", ["-C", scene.dir + "/src", "-czf", scene.dir + "/src/evil-pth-0.1.tar.gz", "evil-pth-0.1"])
        XCTAssertEqual(tar.status, 0, tar.text)
        let environment = ["PIP_DISABLE_PIP_VERSION_CHECK": "1"]

        let (clean, cleanList) = try scene.run(
            [venv + "/bin/pip", "install", "-q", "--no-index", "--find-links", scene.dir + "/wheels", "--force-reinstall", "--no-deps",
             "setuptools"], environment: environment)
        XCTAssertTrue(FileManager.default.fileExists(atPath: venv + "/lib/python3.11/site-packages/distutils-precedence.pth"))
        XCTAssertEqual(rules(cleanList).filter { $0 == "python-startup-write" }, [], "\(cleanList)\n\(clean.stderr)")

        let (evil, evilList) = try scene.run(
            [venv + "/bin/pip", "install", "-q", "--no-build-isolation", "--no-index", "--find-links", scene.dir + "/wheels",
             scene.dir + "/src/evil-pth-0.1.tar.gz"], environment: environment)
        XCTAssertEqual(evil.status, 86, evil.stderr)
        let hooks = evilList.filter { $0["rule"] as? String == "python-startup-write" }
        XCTAssertEqual(hooks.compactMap { ($0["evidence"] as? [String: Any])?["path"] as? String },
                       [venv + "/lib/python3.11/site-packages/evil.pth"], "\(evilList)")
        if let package = hooks.first?["package"] as? [String: Any] {
            XCTAssertEqual(package["name"] as? String, "evil-pth", "\(hooks)")
        }
    }
}
