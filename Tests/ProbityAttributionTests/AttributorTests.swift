import Foundation
@testable import ProbityAttribution
@testable import ProbityEvents
import ProbityProcess
import XCTest

/// The attributor on synthetic fork / exec / exit sequences: attribution follows the code that
/// acts, survives re-parenting and a cleared environment, and the environment and working
/// directory only narrow (docs/attribution.md).
final class AttributorTests: XCTestCase {
    /// A small world: system tools (dpkg), npm packages in a workspace, a venv, a package manager.
    private struct World {
        var table = ProcessTable()
        var attributor: Attributor
        let directory: String
        var clock: UInt64 = 1_000

        var workspace: String { directory + "/app" }
        var key: String { directory + "/home/.ssh/id_rsa" }

        init(directory: String) throws {
            self.directory = directory
            let workspace = directory + "/app"
            let fm = FileManager.default
            var index = PathIndex()
            let coreutils = index.add(InstalledPackage(name: "coreutils", version: "9.7", ecosystem: "deb", source: .dpkg))
            let dash = index.add(InstalledPackage(name: "dash", version: "0.5", ecosystem: "deb", source: .dpkg))
            let bash = index.add(InstalledPackage(name: "bash", version: "5.2", ecosystem: "deb", source: .dpkg))
            let nodejs = index.add(InstalledPackage(name: "nodejs", version: "22", ecosystem: "deb", source: .dpkg))
            let python = index.add(InstalledPackage(name: "python3.12", version: "3.12", ecosystem: "deb", source: .dpkg))
            for (path, id) in [
                ("/usr/bin/cat", coreutils), ("/usr/bin/cp", coreutils), ("/usr/bin/env", coreutils),
                ("/usr/bin/sleep", coreutils), ("/usr/bin/dash", dash), ("/usr/bin/sh", dash), ("/usr/bin/bash", bash),
                ("/usr/bin/node", nodejs), ("/usr/bin/python3.12", python),
            ] { index.addFile(path, package: id) }
            // npm as nodejs ships it: /usr/bin/npm -> ../lib/node_modules/npm/bin/npm-cli.js.
            let npmDir = directory + "/usr/lib/node_modules/npm"
            try fm.createDirectory(atPath: npmDir + "/bin", withIntermediateDirectories: true)
            try fm.createDirectory(atPath: directory + "/usr/bin", withIntermediateDirectories: true)
            try "#!/usr/bin/env node\n".write(toFile: npmDir + "/bin/npm-cli.js", atomically: true, encoding: .utf8)
            try fm.createSymbolicLink(atPath: directory + "/usr/bin/npm", withDestinationPath: "../lib/node_modules/npm/bin/npm-cli.js")
            index.addFile(directory + "/usr/bin/npm", package: nodejs)
            index.addFile(npmDir + "/bin/npm-cli.js", package: nodejs)
            // The workspace's dependencies.
            let evil = index.add(InstalledPackage(name: "evil", version: "1.0.0", ecosystem: "npm", source: .npm, root: workspace + "/node_modules/evil"))
            let good = index.add(InstalledPackage(name: "good", version: "2.1.0", ecosystem: "npm", source: .npm, root: workspace + "/node_modules/good"))
            index.addRoot(workspace + "/node_modules/evil", package: evil)
            index.addRoot(workspace + "/node_modules/good", package: good)
            // A venv with a distribution that ships the `helper` module.
            let site = workspace + "/venv/lib/python3.12/site-packages"
            try fm.createDirectory(atPath: site + "/helper", withIntermediateDirectories: true)
            try "home = /usr/bin\n".write(toFile: workspace + "/venv/pyvenv.cfg", atomically: true, encoding: .utf8)
            try fm.createDirectory(atPath: workspace + "/venv/bin", withIntermediateDirectories: true)
            try fm.createSymbolicLink(atPath: workspace + "/venv/bin/python", withDestinationPath: "/usr/bin/python3.12")
            let helper = index.add(InstalledPackage(name: "helper-tools", version: "0.3", ecosystem: "pypi", source: .pip, root: site + "/helper"))
            index.addRoot(site + "/helper", package: helper)
            index.addRoot(site + "/helper_tools-0.3.dist-info", package: helper)
            attributor = Attributor(index: index, sitePackages: [])
        }

        private mutating func header(_ kind: EventKind, pid: Int32, ppid: Int32) -> EventHeader {
            clock += 1_000
            return EventHeader(bootTimeNanoseconds: clock, kind: kind, pid: pid, tid: pid, ppid: ppid, uid: 0, gid: 0, cgroupID: 0)
        }

        private mutating func apply(_ event: Event) -> Attribution {
            table.apply(event)
            return attributor.apply(event, table: table)
        }

        mutating func fork(_ parent: Int32, _ child: Int32) {
            let ppid = table[parent]?.ppid ?? 1
            _ = apply(.fork(ProcessFork(header: header(.fork, pid: parent, ppid: ppid), childPID: child, childStartTimeNanoseconds: clock)))
        }

        /// An exec of `executable` (as the kernel resolved it) with `argv`; `filename` defaults to it.
        @discardableResult
        mutating func exec(
            _ pid: Int32, _ executable: String, _ argv: [String], cwd: String? = nil, environment: [String] = [],
            filename: String? = nil, ppid: Int32? = nil
        ) -> Attribution {
            let parent = ppid ?? table[pid]?.ppid ?? 1
            return apply(.exec(ProcessExec(
                header: header(.exec, pid: pid, ppid: parent), result: 0, startTimeNanoseconds: clock,
                filename: filename ?? executable, executable: executable, argv: argv, argc: UInt32(argv.count),
                cwd: cwd ?? workspace, environment: environment)))
        }

        mutating func exit(_ pid: Int32) {
            let ppid = table[pid]?.ppid ?? 1
            _ = apply(.exit(ProcessExit(header: header(.exit, pid: pid, ppid: ppid), status: 0, startTimeNanoseconds: 0)))
        }

        /// `probity run -- npm install`: the root (pid 100) is the workspace, npm takes over, and
        /// npm's lifecycle shell for evil (pid 101) has narrowed to evil. Returns 101.
        mutating func evilHook() -> Int32 {
            attributor.seedWorkspace(pid: 100, command: ["npm", "install"])
            exec(100, "/usr/bin/node", ["node", directory + "/usr/bin/npm", "install"])
            fork(100, 101)
            let hook = exec(
                101, "/usr/bin/dash", ["sh", "-c", "node install.js"], cwd: workspace + "/node_modules/evil",
                environment: ["npm_package_name=evil", "npm_package_version=1.0.0", "npm_lifecycle_event=postinstall"])
            XCTAssertEqual(hook.package?.name, "evil")
            XCTAssertEqual(hook.reason, .npmLifecycle)
            return 101
        }
    }

    private func world() throws -> World {
        let directory = NSTemporaryDirectory() + "probity-attributor-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: directory) }
        return try World(directory: directory)
    }

    func testPackageManagerFromTheWorkspaceAndItsLifecycleScriptNarrowsToThePackage() throws {
        var w = try world()
        w.attributor.seedWorkspace(pid: 100, command: ["npm", "install"])
        XCTAssertEqual(w.attributor[100]?.reason, .workspace)
        // npm (a node script nodejs ships, found through the /usr/bin/npm symlink) takes over.
        let npm = w.exec(100, "/usr/bin/node", ["node", w.directory + "/usr/bin/npm", "install"])
        XCTAssertEqual(npm.package?.name, "npm")
        XCTAssertEqual(npm.reason, .script)
        XCTAssertEqual(npm.executablePackage?.name, "nodejs")
        // Its lifecycle shell for good narrows to good (the indexed package, version matched).
        w.fork(100, 101)
        let hook = w.exec(
            101, "/usr/bin/dash", ["sh", "-c", "node install.js"], cwd: w.workspace + "/node_modules/good",
            environment: ["npm_package_name=good", "npm_package_version=2.1.0", "npm_lifecycle_event=postinstall"])
        XCTAssertEqual(hook.package?.name, "good")
        XCTAssertEqual(hook.package?.root, w.workspace + "/node_modules/good", "the indexed package, not a made-up one")
        XCTAssertEqual(hook.reason, .npmLifecycle)
    }

    /// `sh -c '(cd /; sleep 0.5; env -i /bin/cat ~/.ssh/id_rsa) & exit 0'` from a postinstall:
    /// the reader is re-parented to init, has no npm variables and works in `/`.
    func testReparentedDoubleForkWithClearedEnvironmentKeepsThePackage() throws {
        var w = try world()
        let hook = w.evilHook()
        w.fork(hook, 102)
        let shell = w.exec(102, "/usr/bin/dash", ["sh", "-c", "(cd /; sleep 0.5; env -i /bin/cat \(w.key)) & exit 0"])
        XCTAssertEqual(shell.package?.name, "evil")
        w.fork(102, 103)
        w.exit(102)
        w.fork(103, 104)
        XCTAssertEqual(w.exec(104, "/usr/bin/sleep", ["sleep", "0.5"], cwd: "/", ppid: 103).package?.name, "evil")
        w.exit(104)
        // Re-parented to init: ppid 1, cwd /, empty environment.
        let env = w.exec(103, "/usr/bin/env", ["env", "-i", "/bin/cat", w.key], cwd: "/", ppid: 1)
        XCTAssertEqual(env.package?.name, "evil")
        let reader = w.exec(103, "/usr/bin/cat", ["/bin/cat", w.key], cwd: "/", filename: "/bin/cat", ppid: 1)
        XCTAssertEqual(reader.package?.name, "evil")
        XCTAssertEqual(reader.package?.version, "1.0.0")
        XCTAssertEqual(reader.reason, .inherited)
        XCTAssertEqual(reader.executablePackage?.name, "coreutils", "the tool's own package is kept as evidence")
        w.fork(103, 105)
        XCTAssertEqual(w.attributor[105]?.package?.name, "evil", "and passed on")
    }

    func testShellAndToolsUnderAPackageStayThePackage() throws {
        var w = try world()
        let hook = w.evilHook()
        w.fork(hook, 102)
        XCTAssertEqual(w.exec(102, "/usr/bin/bash", ["bash", "-c", "cp \(w.key) /tmp/x"]).package?.name, "evil")
        XCTAssertEqual(w.exec(102, "/usr/bin/cp", ["cp", w.key, "/tmp/x"]).package?.name, "evil")
        w.fork(hook, 103)
        let cat = w.exec(103, "/usr/bin/cat", ["cat", w.key])
        XCTAssertEqual(cat.package?.name, "evil")
        XCTAssertNotEqual(cat.reason, .systemExecutable)
    }

    func testEnvironmentNamingAPackageManagerKeepsTheHooksPackage() throws {
        var w = try world()
        let hook = w.evilHook()
        w.fork(hook, 102)
        let a = w.exec(102, "/usr/bin/dash", ["sh", "-c", "cat \(w.key)"], environment: ["npm_package_name=npm", "npm_lifecycle_event=install"])
        XCTAssertEqual(a.package?.name, "evil")
        XCTAssertTrue(a.evidence.contains("ignored: npm install of npm"), a.evidence)
        // Another (non-manager) package's name does not move it either.
        w.fork(hook, 103)
        let b = w.exec(103, "/usr/bin/dash", ["sh", "-c", "true"], environment: ["npm_package_name=good", "npm_package_version=2.1.0"])
        XCTAssertEqual(b.package?.name, "evil")
        XCTAssertTrue(b.evidence.contains("ignored"), b.evidence)
        // From the workspace, a package manager's name is refused too.
        w.attributor.seedWorkspace(pid: 300, command: ["sh", "x.sh"])
        let c = w.exec(300, "/usr/bin/dash", ["sh", "-c", "cat \(w.key)"], environment: ["npm_package_name=npm"])
        XCTAssertEqual(c.reason, .workspace)
        XCTAssertNil(c.package)
    }

    func testPKGINFONamingPipKeepsTheHooksPackage() throws {
        var w = try world()
        let fake = w.directory + "/fake-sdist"
        try FileManager.default.createDirectory(atPath: fake, withIntermediateDirectories: true)
        try "Metadata-Version: 2.1\nName: pip\nVersion: 99\n".write(toFile: fake + "/PKG-INFO", atomically: true, encoding: .utf8)
        let hook = w.evilHook()
        w.fork(hook, 102)
        let a = w.exec(102, "/usr/bin/python3.12", ["python3", "-c", "open('\(w.key)')"], cwd: fake)
        XCTAssertEqual(a.package?.name, "evil")
        XCTAssertTrue(a.evidence.contains("ignored"), a.evidence)
        // From the workspace: not pip either.
        w.attributor.seedWorkspace(pid: 300, command: ["make"])
        let b = w.exec(300, "/usr/bin/python3.12", ["python3", "-c", "pass"], cwd: fake)
        XCTAssertEqual(b.reason, .workspace)
        XCTAssertTrue(b.evidence.contains("names a package manager"), b.evidence)
        // A real sdist's PKG-INFO under the workspace narrows to the sdist (a build run from it).
        let sdist = w.directory + "/sneaky-0.1"
        try FileManager.default.createDirectory(atPath: sdist, withIntermediateDirectories: true)
        try "Metadata-Version: 2.1\nName: sneaky\nVersion: 0.1\n".write(toFile: sdist + "/PKG-INFO", atomically: true, encoding: .utf8)
        w.fork(300, 301)
        let c = w.exec(301, "/usr/bin/python3.12", ["python3", "setup.py", "install"], cwd: sdist)
        XCTAssertEqual(c.package?.name, "sneaky")
        XCTAssertEqual(c.reason, .pythonBuild)
    }

    /// The PKG-INFO of a monitored process's working directory is the process's to write: a FIFO
    /// there does not block the pipeline thread, a link is not followed, and of a huge one only the
    /// headers at its start are read.
    func testPKGINFOIsReadBoundedWithoutBlockingOrFollowingLinks() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("probity-pkginfo-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for sub in ["fifo", "link", "huge", "real"] {
            try FileManager.default.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: true)
        }
        XCTAssertEqual(mkfifo(dir + "/fifo/PKG-INFO", 0o644), 0)
        try "Metadata-Version: 2.1\nName: real\nVersion: 1\n".write(toFile: dir + "/real/PKG-INFO", atomically: true, encoding: .utf8)
        XCTAssertEqual(symlink(dir + "/real/PKG-INFO", dir + "/link/PKG-INFO"), 0)
        let huge = "Metadata-Version: 2.1\nName: huge\nVersion: 2\n\n" + String(repeating: "description ", count: 2_000_000)
        try huge.write(toFile: dir + "/huge/PKG-INFO", atomically: true, encoding: .utf8)

        let done = DispatchSemaphore(value: 0)
        let fifoDir = dir + "/fifo"
        Thread.detachNewThread {
            XCTAssertNil(Attributor.pythonBuild(cwd: fifoDir))
            done.signal()
        }
        if done.wait(timeout: .now() + 2) == .timedOut {
            XCTFail("reading a FIFO named PKG-INFO blocked")
            let fd = open(fifoDir + "/PKG-INFO", O_WRONLY | O_NONBLOCK)
            if fd >= 0 { close(fd) }
            _ = done.wait(timeout: .now() + 5)
        }
        XCTAssertNil(Attributor.pythonBuild(cwd: dir + "/link"), "a symbolic link is not followed")
        XCTAssertEqual(Attributor.pythonBuild(cwd: dir + "/real")?.name, "real")
        let big = try XCTUnwrap(Attributor.pythonBuild(cwd: dir + "/huge"), "the headers of a 24 MB PKG-INFO")
        XCTAssertEqual(big.name, "huge")
        XCTAssertEqual(big.version, "2")
    }

    func testUnownedScriptsAndInlineCodeFromTheWorkspaceAreTheWorkspace() throws {
        var w = try world()
        let scripts = w.directory + "/scripts"
        w.attributor.seedWorkspace(pid: 200, command: ["node", "steal.js"])
        let node = w.exec(200, "/usr/bin/node", ["node", "steal.js"], cwd: scripts)
        XCTAssertEqual(node.reason, .workspace)
        XCTAssertNil(node.package)
        XCTAssertEqual(node.executablePackage?.name, "nodejs")
        w.attributor.seedWorkspace(pid: 201, command: ["bash", "steal.sh"])
        XCTAssertEqual(w.exec(201, "/usr/bin/bash", ["bash", "steal.sh"], cwd: scripts).reason, .workspace)
        w.attributor.seedWorkspace(pid: 202, command: ["/usr/bin/python3", "steal.py"])
        XCTAssertEqual(w.exec(202, "/usr/bin/python3.12", ["/usr/bin/python3", "steal.py"], cwd: scripts).reason, .workspace)
        w.attributor.seedWorkspace(pid: 203, command: ["bash", "-c", "cp"])
        XCTAssertEqual(w.exec(203, "/usr/bin/bash", ["bash", "-c", "cp \(w.key) /tmp/x"]).reason, .workspace)
        w.fork(203, 204)
        let cp = w.exec(204, "/usr/bin/cp", ["cp", w.key, "/tmp/x"])
        XCTAssertEqual(cp.reason, .workspace, "a distribution tool acts for the workspace, not `system`")
        XCTAssertEqual(cp.executablePackage?.name, "coreutils")
        // The workspace running a dependency's script: the dependency's code takes over.
        w.fork(203, 205)
        let dependency = w.exec(205, "/usr/bin/node", ["node", "node_modules/good/cli.js"])
        XCTAssertEqual(dependency.package?.name, "good")
        XCTAssertEqual(dependency.reason, .script)
    }

    func testUnownedScriptRunByAPackageStaysThePackage() throws {
        var w = try world()
        let hook = w.evilHook()
        w.fork(hook, 102)
        let a = w.exec(102, "/usr/bin/python3.12", ["python3", "/tmp/stage2.py"], cwd: "/tmp")
        XCTAssertEqual(a.package?.name, "evil")
        // Another package's script takes over (that package's code runs)...
        w.fork(hook, 103)
        XCTAssertEqual(w.exec(103, "/usr/bin/node", ["node", w.workspace + "/node_modules/good/cli.js"]).package?.name, "good")
        // ...but a package manager run by the package's code does not: the package stays responsible.
        w.fork(hook, 104)
        let npm = w.exec(104, "/usr/bin/node", ["node", w.directory + "/usr/bin/npm", "config", "get"])
        XCTAssertEqual(npm.package?.name, "evil")
        XCTAssertTrue(npm.evidence.contains("runs npm"), npm.evidence)
    }

    func testPythonDashMInAVenvIsTheVenvDistribution() throws {
        var w = try world()
        w.attributor.seedWorkspace(pid: 400, command: ["venv/bin/python", "-m", "helper", "123"])
        // The kernel reports the resolved interpreter; the venv is found by the name it was run as.
        let a = w.exec(
            400, "/usr/bin/python3.12", ["venv/bin/python", "-m", "helper", "123"], filename: "venv/bin/python")
        XCTAssertEqual(a.package?.name, "helper-tools")
        XCTAssertEqual(a.reason, .script)
        XCTAssertEqual(a.evidence, "-m helper")
        // The same module from a system interpreter with no venv: not found, stays the workspace.
        w.attributor.seedWorkspace(pid: 401, command: ["python3", "-m", "helper"])
        XCTAssertEqual(w.exec(401, "/usr/bin/python3.12", ["python3", "-m", "helper"], filename: "/usr/bin/python3").reason, .workspace)
    }

    /// `python -m venv` runs `python -m ensurepip`, which runs the pip wheel bundled with the
    /// interpreter (from a temporary copy, in a `python -c` child): pip's code, so the files it
    /// writes (setuptools' distutils-precedence.pth) are an installer's. Only the interpreter's
    /// own ensurepip counts, and a package's code running it stays the package.
    func testEnsurepipRunsTheInterpretersBundledPip() throws {
        var w = try world()
        let fm = FileManager.default
        let prefix = w.directory + "/pyenv/3.12"
        try fm.createDirectory(atPath: prefix + "/bin", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: prefix + "/lib/python3.12/ensurepip/_bundled", withIntermediateDirectories: true)
        try "".write(toFile: prefix + "/lib/python3.12/ensurepip/__init__.py", atomically: true, encoding: .utf8)
        try "".write(toFile: prefix + "/lib/python3.12/ensurepip/_bundled/pip-24.0-py3-none-any.whl", atomically: true, encoding: .utf8)
        let python = prefix + "/bin/python3.12"
        w.attributor.seedWorkspace(pid: 600, command: ["python3", "-m", "venv", "v"])
        XCTAssertEqual(w.exec(600, python, ["python3", "-m", "venv", "v"]).reason, .workspace)
        w.fork(600, 601)
        let ensurepip = w.exec(601, python, [w.workspace + "/v/bin/python3", "-m", "ensurepip", "--upgrade", "--default-pip"],
                               filename: w.workspace + "/v/bin/python3")
        XCTAssertEqual(ensurepip.package?.name, "pip")
        XCTAssertEqual(ensurepip.package?.version, "24.0")
        XCTAssertEqual(ensurepip.reason, .script)
        XCTAssertTrue(Attributor.isPackageManager(try XCTUnwrap(ensurepip.package)))
        w.fork(601, 602)
        let runner = w.exec(602, python, [w.workspace + "/v/bin/python3", "-W", "ignore::DeprecationWarning", "-c", "import runpy"])
        XCTAssertEqual(runner.package?.name, "pip", "inline code acts for whoever ran it")
        // An interpreter without an ensurepip of its own: nothing is found, the workspace stays.
        let bare = w.directory + "/bare/bin/python3.12"
        try fm.createDirectory(atPath: w.directory + "/bare/lib/python3.12", withIntermediateDirectories: true)
        w.attributor.seedWorkspace(pid: 610, command: ["python3", "-m", "ensurepip"])
        XCTAssertEqual(w.exec(610, bare, ["python3", "-m", "ensurepip"]).reason, .workspace)
        // A dependency's code running ensurepip stays the dependency.
        let hook = w.evilHook()
        w.fork(hook, 620)
        let byEvil = w.exec(620, python, ["python3", "-m", "ensurepip"])
        XCTAssertEqual(byEvil.package?.name, "evil")
        XCTAssertTrue(byEvil.evidence.contains("runs pip"), byEvil.evidence)
    }

    /// A venv the command makes after the index was built: its console scripts belong to the
    /// distribution whose RECORD lists them (`../../../bin/pip`), as for a venv found at start; a
    /// script no RECORD lists stays the workspace's.
    func testConsoleScriptOfAVenvMadeDuringTheRun() throws {
        var w = try world()
        let fm = FileManager.default
        let venv = w.workspace + "/new-venv"
        let site = venv + "/lib/python3.12/site-packages"
        try fm.createDirectory(atPath: site + "/pip-24.0.dist-info", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: venv + "/bin", withIntermediateDirectories: true)
        try "home = /usr/bin\n".write(toFile: venv + "/pyvenv.cfg", atomically: true, encoding: .utf8)
        try "Metadata-Version: 2.1\nName: pip\nVersion: 24.0\n\n".write(toFile: site + "/pip-24.0.dist-info/METADATA", atomically: true, encoding: .utf8)
        try "pip/__init__.py,sha256=x,1\n../../../bin/pip,sha256=y,2\npip-24.0.dist-info/RECORD,,\n"
            .write(toFile: site + "/pip-24.0.dist-info/RECORD", atomically: true, encoding: .utf8)
        for name in ["pip", "tool"] {
            try "#!\(venv)/bin/python3\n".write(toFile: venv + "/bin/" + name, atomically: true, encoding: .utf8)
        }
        w.attributor.seedWorkspace(pid: 700, command: ["new-venv/bin/pip", "install", "six"])
        // The kernel ran the interpreter; argv names the script after it.
        let pip = w.exec(700, "/usr/bin/python3.12", [venv + "/bin/python3", "new-venv/bin/pip", "install", "six"],
                         filename: "new-venv/bin/pip")
        XCTAssertEqual(pip.package?.name, "pip")
        XCTAssertEqual(pip.package?.version, "24.0")
        XCTAssertEqual(pip.reason, .script)
        w.attributor.seedWorkspace(pid: 701, command: ["new-venv/bin/tool"])
        XCTAssertEqual(w.exec(701, "/usr/bin/python3.12", [venv + "/bin/python3", "new-venv/bin/tool"], filename: "new-venv/bin/tool").reason,
                       .workspace, "no RECORD lists it")
    }

    /// probityd: no workspace root. A system tool with no attributed ancestry is the system's;
    /// package code and its descendants are still the package's.
    func testProbitydModeSystemExecutables() throws {
        var w = try world()
        let cat = w.exec(500, "/usr/bin/cat", ["cat", "/etc/hostname"], ppid: 1)
        XCTAssertEqual(cat.reason, .systemExecutable)
        XCTAssertEqual(cat.package?.name, "coreutils")
        let unknown = w.exec(501, "/opt/tool/bin/tool", ["tool"], ppid: 1)
        XCTAssertEqual(unknown.reason, .unattributed)
        // bash run by a user, then a package's script: the package; its `cat`: still the package.
        w.exec(502, "/usr/bin/bash", ["bash"], ppid: 1)
        w.fork(502, 503)
        XCTAssertEqual(w.exec(503, "/usr/bin/node", ["node", w.workspace + "/node_modules/evil/install.js"]).package?.name, "evil")
        w.fork(503, 504)
        w.exit(503)
        let reader = w.exec(504, "/usr/bin/cat", ["cat", w.key], cwd: "/", ppid: 1)
        XCTAssertEqual(reader.package?.name, "evil", "not moved back to the system")
        // npm's lifecycle shell narrows from a system tool too (as before).
        w.fork(502, 505)
        XCTAssertEqual(w.exec(505, "/usr/bin/dash", ["sh", "-c", "x"], environment: ["npm_package_name=good"]).reason, .npmLifecycle)
    }

    func testForkInheritsAndExitForgets() throws {
        var w = try world()
        let hook = w.evilHook()
        w.fork(hook, 102)
        XCTAssertEqual(w.attributor[102]?.reason, .inherited)
        XCTAssertEqual(w.attributor[102]?.evidence, "pid 101")
        w.exit(102)
        XCTAssertNil(w.attributor[102])
        w.attributor.seedWorkspace(pid: 600, command: ["make"])
        w.fork(600, 601)
        XCTAssertTrue(w.attributor[601] === w.attributor[600], "the workspace is shared, not copied")
    }
}
