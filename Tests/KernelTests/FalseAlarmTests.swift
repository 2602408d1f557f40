#if canImport(Glibc)
import Glibc
#endif
import Foundation
import XCTest

/// Issue 9, item 4: ordinary, well-behaved builds under `probity run` with the built-in contract
/// report nothing at all. A gate that fails ordinary builds gets switched off, so each scenario
/// is a real workload (PyPI installs, gcc, git over ssh, npm, make) that must come out with an
/// empty violations.json and the command's own exit status, in audit mode and, where it is
/// cheap, in enforce mode too.
///
/// Network: PyPI for the pip scenarios; everything else is on loopback (an sshd the test starts
/// on 127.0.0.1, npm offline from local tarballs).
final class FalseAlarmTests: XCTestCase {
    /// A scratch directory: `work` (the run's workspace) and `home` (its `$HOME`).
    private struct Scene {
        let dir: String
        var work: String { dir + "/work" }
        var home: String { dir + "/home" }

        init() throws {
            dir = try Kernel.temporaryDirectory()
            for sub in ["work", "home"] {
                try FileManager.default.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: true)
            }
        }

        func remove() { try? FileManager.default.removeItem(atPath: dir) }
    }

    private enum Mode: String { case audit, enforce }

    /// The interpreter a CI job gets for `python3` (pyenv's when it is installed), resolved.
    private static let python: String = {
        let found = try? Kernel.output("/bin/sh", ["-c", "command -v python3"], environment: ["PATH": searchPath])
        return found?.text.trimmingCharacters(in: .whitespacesAndNewlines) ?? "/usr/bin/python3"
    }()

    private static let searchPath = "/root/.pyenv/shims:/usr/local/bin:/usr/bin:/bin"

    /// Runs `command` under `probity run --report DIR [--mode enforce] --` in the scene's
    /// workspace and asserts the run was clean: no violation, nothing lost, the command's own
    /// status (`expected`). Returns the report directory.
    @discardableResult
    private func assertClean(
        _ scene: Scene, _ name: String, _ command: [String], mode: Mode = .audit, expected: Int32 = 0,
        environment: [String: String] = [:], file: StaticString = #filePath, line: UInt = #line
    ) throws -> String {
        let report = "\(scene.dir)/report-\(name)-\(mode.rawValue)"
        var env = ["HOME": scene.home, "PATH": Self.searchPath, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"]
        env.merge(environment) { $1 }
        var arguments = ["run", "--report", report]
        if mode == .enforce { arguments += ["--mode", "enforce"] }
        let started = Date()
        let run = try ProbityCommand.run(arguments + ["--"] + command, environment: env, directory: scene.work)
        let seconds = Date().timeIntervalSince(started)
        let (document, list) = try ProbityCommand.violations(report)
        let shown = list.map(Self.describe).joined(separator: "\n")
        print("false-alarm scenario \(name) (\(mode.rawValue)): status \(run.status), \(list.count) violations, \(String(format: "%.1f", seconds)) s")
        XCTAssertEqual(list.count, 0, "\(name) (\(mode.rawValue)): false alarms:\n\(shown)\n\(run.stderr)", file: file, line: line)
        XCTAssertEqual(run.status, expected, "\(name) (\(mode.rawValue)): the command's own status\n\(shown)\n\(run.stderr)", file: file, line: line)
        XCTAssertEqual(document["passed"] as? Bool, true, "\(name) (\(mode.rawValue))", file: file, line: line)
        XCTAssertEqual(document["lost_events"] as? Int, 0, "\(name) (\(mode.rawValue))", file: file, line: line)
        return report
    }

    /// One line per violation: rule, package, message, the path or address, the process chain.
    private static func describe(_ v: [String: Any]) -> String {
        let package = (v["package"] as? [String: Any])?["name"] as? String ?? "(no package)"
        let reason = (v["attribution"] as? [String: Any])?["reason"] as? String ?? "?"
        let evidence = v["evidence"] as? [String: Any] ?? [:]
        let chain = (v["processes"] as? [[String: Any]] ?? []).compactMap { $0["executable"] as? String }
        let what = evidence["path"] as? String ?? "\(evidence["address"] ?? "?"):\(evidence["port"] ?? "?")"
        return "  \(v["rule"] as? String ?? "?") [\(package), \(reason)] \(what): \(v["message"] as? String ?? "")"
            + "\n    argv: \(evidence["argv"] ?? "-")\n    chain: \(chain.joined(separator: " <- "))"
    }

    // MARK: 1. venvs and a pure-Python sdist from PyPI

    /// `python3 -m venv` in the workspace, its pip building `six` from its sdist (setuptools
    /// fetched into pip's isolated build environment under /tmp).
    func testVenvInTheWorkspaceInstallsAnSdist() throws {
        let scene = try Scene()
        defer { scene.remove() }
        try assertClean(scene, "venv-in-workspace", ["/bin/sh", "-c", """
            set -e
            python3 -m venv venv
            venv/bin/pip install -q --no-cache-dir --no-binary six six
            venv/bin/python -c 'import six'
            """])
    }

    /// The same with the venv under /tmp outside the workspace, run as `VENV/bin/python3 -m pip`:
    /// `bin/python3` is a symlink to the interpreter outside /tmp, so its exec is not a program
    /// run from a temporary directory (judged by the file the kernel ran).
    func testVenvUnderTmpOutsideTheWorkspaceInstallsAnSdist() throws {
        let scene = try Scene()
        defer { scene.remove() }
        let venv = scene.dir + "/venv"
        try assertClean(scene, "venv-under-tmp", ["/bin/sh", "-c", """
            set -e
            python3 -m venv "$0"
            "$0/bin/python3" -m pip install -q --no-cache-dir --no-binary six six
            "$0/bin/python3" -c 'import six'
            """, venv])
        var isLink = stat()
        XCTAssertEqual(lstat(venv + "/bin/python3", &isLink), 0)
        XCTAssertEqual(isLink.st_mode & S_IFMT, S_IFLNK, "the venv's python3 is a symlink")
    }

    // MARK: 2. C extensions built from source

    /// PyYAML and MarkupSafe built from their sdists: gcc compiles the C extensions inside pip's
    /// isolated build environment (/tmp/pip-build-env-*).
    func testCExtensionsBuiltFromSourceWithGcc() throws {
        let include = try Kernel.output(Self.python, ["-c", "import sysconfig; print(sysconfig.get_paths()['include'])"])
        let header = include.text.trimmingCharacters(in: .whitespacesAndNewlines) + "/Python.h"
        XCTAssertTrue(FileManager.default.fileExists(atPath: header), "\(Self.python) has its headers (\(header))")
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: "/usr/bin/gcc"), "gcc is installed (make deps)")
        let scene = try Scene()
        defer { scene.remove() }
        try assertClean(scene, "c-extensions", ["/bin/sh", "-c", """
            set -e
            python3 -m venv venv
            venv/bin/pip install -q --no-cache-dir --no-binary pyyaml,markupsafe pyyaml markupsafe
            venv/bin/python -c 'import yaml, markupsafe; assert yaml.__with_libyaml__ is not None; import markupsafe._speedups'
            """])
    }

    // MARK: 3 and 4. git over ssh, ssh reading its keys

    /// An sshd on 127.0.0.1 with a config, host key and authorized_keys of its own (no system
    /// configuration is read or changed), and a home whose ~/.ssh holds the client's key.
    private final class LoopbackSSH {
        let dir: String
        let home: String
        let port: Int
        private var pid: pid_t = 0

        var key: String { home + "/.ssh/id_rsa" }
        var sshCommand: String {
            "ssh -i \(key) -p \(port) -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -F /dev/null"
        }

        init(dir: String, home: String) throws {
            self.dir = dir
            self.home = home
            XCTAssertTrue(FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd"), "openssh-server is installed (make deps)")
            try FileManager.default.createDirectory(atPath: home + "/.ssh", withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            for (type, path) in [("ed25519", dir + "/ssh_host_ed25519_key"), ("rsa", home + "/.ssh/id_rsa")] {
                let made = try Kernel.output("/usr/bin/ssh-keygen", ["-q", "-t", type, "-N", "", "-f", path] + (type == "rsa" ? ["-b", "2048"] : []),
                                             mergeErrors: true)
                XCTAssertEqual(made.status, 0, made.text)
            }
            try FileManager.default.copyItem(atPath: home + "/.ssh/id_rsa.pub", toPath: dir + "/authorized_keys")
            port = try Kernel.freePort()
            try """
                Port \(port)
                ListenAddress 127.0.0.1
                HostKey \(dir)/ssh_host_ed25519_key
                AuthorizedKeysFile \(dir)/authorized_keys
                PidFile \(dir)/sshd.pid
                PermitRootLogin prohibit-password
                PubkeyAuthentication yes
                PasswordAuthentication no
                KbdInteractiveAuthentication no
                UsePAM no
                StrictModes no
                PrintMotd no
                """.write(toFile: dir + "/sshd_config", atomically: true, encoding: .utf8)
            // sshd's privilege-separation directory (a runtime directory its unit would create).
            if !FileManager.default.fileExists(atPath: "/run/sshd") {
                try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o755])
            }
            let check = try Kernel.output("/usr/sbin/sshd", ["-t", "-f", dir + "/sshd_config"], mergeErrors: true)
            XCTAssertEqual(check.status, 0, "sshd -t: \(check.text)")
            let log = dir + "/sshd.log"
            var actions: posix_spawn_file_actions_t = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
            let argv = ["/usr/sbin/sshd", "-D", "-e", "-p", "\(port)", "-f", dir + "/sshd_config"]
            var cArgs = argv.map { strdup($0) } + [nil]
            defer { cArgs.forEach { free($0) } }
            let spawned = posix_spawn(&pid, "/usr/sbin/sshd", &actions, nil, &cArgs, environ)
            guard spawned == 0 else { throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .EIO) }
            // Ready when it accepts a connection.
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline {
                if Self.accepts(port) { return }
                usleep(50_000)
            }
            XCTFail("sshd did not start: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        }

        func stop() {
            guard pid > 0 else { return }
            kill(pid, SIGTERM)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            pid = 0
        }

        var log: String { (try? String(contentsOfFile: dir + "/sshd.log", encoding: .utf8)) ?? "" }

        private static func accepts(_ port: Int) -> Bool {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(port).bigEndian
            return withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
        }
    }

    /// `git clone` of a bare repository over ssh from the loopback sshd: ssh reads the key
    /// (a credential reader), git writes the clone into the workspace. In enforce mode too: the
    /// kernel takes ssh out of the class at its exec (a reader, with no loader variables), before
    /// it opens the key, rather than when user space has attributed the exec.
    func testGitCloneOverSshFromALoopbackSshd() throws {
        let scene = try Scene()
        defer { scene.remove() }
        let ssh = try LoopbackSSH(dir: scene.dir, home: scene.home)
        defer { ssh.stop() }
        let bare = scene.dir + "/origin.git"
        let made = try Kernel.output("/bin/sh", ["-c", """
            set -e
            git init -q --bare -b main "$0"
            src=$(mktemp -d)
            cd "$src"
            git init -q -b main
            echo 'hello' > README
            git add README
            git -c user.name=t -c user.email=t@example.invalid commit -q -m first
            git push -q "$0" main
            rm -rf "$src"
            """, bare], mergeErrors: true)
        XCTAssertEqual(made.status, 0, made.text)
        for mode in [Mode.audit, .enforce] {
            try? FileManager.default.removeItem(atPath: scene.work + "/clone")
            try assertClean(scene, "git-clone-over-ssh", ["git", "clone", "-q", "ssh://root@127.0.0.1:\(ssh.port)\(bare)", "clone"],
                            mode: mode, environment: ["GIT_SSH_COMMAND": ssh.sshCommand, "GIT_TERMINAL_PROMPT": "0"])
            XCTAssertEqual(try? String(contentsOfFile: scene.work + "/clone/README", encoding: .utf8), "hello\n",
                           "the clone succeeded (\(mode))\n\(ssh.log)")
        }
    }

    /// The planted key read by ssh-keygen and by ssh logging in to the loopback sshd, in both
    /// modes.
    func testSshReadingAPlantedKey() throws {
        let scene = try Scene()
        defer { scene.remove() }
        let ssh = try LoopbackSSH(dir: scene.dir, home: scene.home)
        defer { ssh.stop() }
        let script = """
            set -e
            ssh-keygen -y -f "$HOME/.ssh/id_rsa" > "$HOME/derived.pub"
            \(ssh.sshCommand) root@127.0.0.1 'echo logged-in' > "$HOME/login.out"
            """
        for mode in [Mode.audit, .enforce] {
            try? FileManager.default.removeItem(atPath: scene.home + "/login.out")
            try assertClean(scene, "ssh-planted-key", ["/bin/sh", "-c", script], mode: mode)
            XCTAssertEqual(try? String(contentsOfFile: scene.home + "/login.out", encoding: .utf8), "logged-in\n", "\(mode)\n\(ssh.log)")
        }
    }

    // MARK: 5. npm, offline

    /// The demo's well-behaved fixture (a postinstall that builds inside its own directory),
    /// packed with `npm pack`, installed offline, then reinstalled from the lock file by `npm ci`.
    func testNpmInstallAndCiOfTheWellBehavedFixture() throws {
        let scene = try Scene()
        defer { scene.remove() }
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/demo/good-hook").path
        try FileManager.default.createDirectory(atPath: scene.dir + "/src", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: fixture, toPath: scene.dir + "/src/good-hook")
        let packed = try Kernel.output("/bin/sh", ["-c", "cd \"$0\" && npm pack --silent ./good-hook", scene.dir + "/src"],
                                       mergeErrors: true, environment: ["HOME": scene.home])
        XCTAssertEqual(packed.status, 0, packed.text)
        try #"{"name":"app","version":"0.0.1","private":true}"#.write(toFile: scene.work + "/package.json", atomically: true, encoding: .utf8)
        let install = "npm install --offline --no-audit --no-fund ../src/good-hook-2.1.0.tgz"
        let ci = "rm -rf node_modules && npm ci --offline --no-audit --no-fund"
        try assertClean(scene, "npm-install", ["/bin/sh", "-c", "\(install) && \(ci)"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: scene.work + "/node_modules/good-hook/build/version.txt"), "the postinstall ran")
        try assertClean(scene, "npm-ci", ["/bin/sh", "-c", ci], mode: .enforce)
        XCTAssertTrue(FileManager.default.fileExists(atPath: scene.work + "/node_modules/good-hook/build/version.txt"), "the postinstall ran")
    }

    // MARK: 6. make and make test of a C project

    /// A small C project: a library, a test program linked against it, `make` then `make test`
    /// (compiles, links with ar and gcc, runs the test binary).
    func testMakeAndMakeTestOfACProject() throws {
        let scene = try Scene()
        defer { scene.remove() }
        let files = [
            "add.h": "int add(int a, int b);\n",
            "add.c": "#include \"add.h\"\nint add(int a, int b) { return a + b; }\n",
            "main.c": "#include <stdio.h>\n#include \"add.h\"\nint main(void) { printf(\"%d\\n\", add(2, 3)); return 0; }\n",
            "test_add.c": "#include <assert.h>\n#include \"add.h\"\nint main(void) { assert(add(2, 3) == 5); return 0; }\n",
            "Makefile": """
                CC ?= gcc
                CFLAGS ?= -O2 -Wall -Werror
                all: app
                libadd.a: add.o
                \tar rcs $@ $^
                app: main.o libadd.a
                \t$(CC) $(CFLAGS) -o $@ main.o -L. -ladd
                test_add: test_add.o libadd.a
                \t$(CC) $(CFLAGS) -o $@ test_add.o -L. -ladd
                test: test_add
                \t./test_add && ./app | grep -qx 5 && echo tests passed
                clean:
                \trm -f *.o *.a app test_add
                .PHONY: all test clean

                """,
        ]
        for (name, text) in files {
            try text.write(toFile: scene.work + "/" + name, atomically: true, encoding: .utf8)
        }
        for mode in [Mode.audit, .enforce] {
            try assertClean(scene, "make", ["/bin/sh", "-c", "make -s clean && make -s && make -s test"], mode: mode)
            XCTAssertTrue(FileManager.default.isExecutableFile(atPath: scene.work + "/test_add"), "the test binary was built (\(mode))")
        }
    }
}
