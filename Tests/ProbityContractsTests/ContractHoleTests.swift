import Foundation
@testable import ProbityAttribution
@testable import ProbityContracts
@testable import ProbityEvents
import ProbityProcess
import XCTest

/// The holes of issue 9 (item 3) in the built-in contract: credential reads judged by the program
/// that reads and by the file's object, memory-backed execs, Python start-up hooks.
final class ContractHoleTests: XCTestCase {
    private let O_WRONLY: Int32 = 0o1, O_CREAT: Int32 = 0o100
    private let key = FileObject(device: 8 << 20 | 1, inode: 4242)

    /// The built-in policy, with `/home/dev/.ssh/id_rsa` existing as `key`.
    private func builtIn() throws -> Evaluator {
        let documents = [try PolicyLoader.load(contentsOf: Make.defaultPolicyPath)]
        let set = try ContractSet(documents: documents, variables: Make.variables) { path, prefix in
            path == "/home/dev/.ssh" && prefix ? [("/home/dev/.ssh/id_rsa", self.key)] : []
        }
        return Evaluator(contracts: set)
    }

    private func running(_ executable: String, argv: [String]? = nil, loader: [String] = [], pid: Int32 = 100) -> TrackedProcess {
        var process = TrackedProcess(pid: pid, ppid: 1, executable: executable, argv: argv ?? [executable])
        process.loaderVariables = loader
        return process
    }

    private func read(_ path: String, object: FileObject? = nil) -> Event {
        .open(FileOpen(
            header: Make.header(.open), result: 3, path: path, requestedPath: path, flags: OpenFlags(rawValue: 0), mode: 0,
            dirfd: -100, count: 1, syscall: .openat, object: object))
    }

    private let coreutils = Make.package("coreutils", ecosystem: "deb", source: .dpkg)
    private let git = Make.package("git", ecosystem: "deb", source: .dpkg)
    private let evil = Make.package("evil-pkg")
    private let npm = Make.package("npm")

    // MARK: credential readers

    func testACredentialIsReadOnlyByItsOwnProgramsWhateverPackageRunsThem() throws {
        var evaluator = try builtIn()
        let keyPath = "/home/dev/.ssh/id_rsa"
        // A distribution tool run by the build: charged to coreutils (system), still a theft.
        let cp = evaluator.check(read(keyPath), coreutils, process: running("/usr/bin/cp"))
        XCTAssertEqual(cp.map(\.rule), ["credential-read"])
        XCTAssertEqual(cp.map(\.contract), ["system"])
        XCTAssertEqual(cp.first?.package?.name, "coreutils")
        for tool in ["/usr/bin/cat", "/usr/bin/grep", "/usr/bin/tar", "/usr/bin/base64", "/usr/bin/curl", "/usr/bin/python3.11",
                     "/usr/bin/node", "/usr/bin/perl", "/usr/bin/ruby3.1", "/usr/bin/bash", "/usr/bin/dash", "/usr/bin/scp"] {
            XCTAssertEqual(evaluator.check(read(keyPath), coreutils, process: running(tool)).map(\.rule), ["credential-read"], tool)
            XCTAssertEqual(evaluator.check(read(keyPath), evil, process: running(tool)).map(\.contract), ["default"], tool)
        }
        // ssh and its helpers read keys, known_hosts and config, whoever started them.
        for (package, contract) in [(git, "system"), (evil, "default"), (npm, "package-managers")] {
            for reader in ["/usr/bin/ssh", "/usr/bin/ssh-keygen", "/usr/bin/ssh-add", "/bin/ssh"] {
                for file in [keyPath, "/home/dev/.ssh/known_hosts", "/root/.ssh/config"] {
                    XCTAssertEqual(evaluator.check(read(file), package, process: running(reader)), [], "\(reader) \(file) \(contract)")
                }
            }
            // ssh reads ~/.ssh, not the cloud's credentials.
            XCTAssertEqual(evaluator.check(read("/home/dev/.aws/credentials"), package, process: running("/usr/bin/ssh")).map(\.rule),
                           ["credential-read"], contract)
        }
        // gpg reads its keyring, and only that.
        XCTAssertEqual(evaluator.check(read("/home/dev/.gnupg/private-keys-v1.d/A.key"), git, process: running("/usr/bin/gpg")), [])
        XCTAssertEqual(evaluator.check(read(keyPath), git, process: running("/usr/bin/gpg")).map(\.rule), ["credential-read"])
        XCTAssertEqual(evaluator.check(read("/home/dev/.gnupg/pubring.kbx"), git, process: running("/usr/bin/cat")).map(\.rule),
                       ["credential-read"])
    }

    func testAReaderIsTheExecutableTheKernelRanNotANameOrACopy() throws {
        var evaluator = try builtIn()
        let keyPath = "/home/dev/.ssh/id_ed25519"
        // `cat` copied to /tmp/ssh, or started with argv[0] = ssh (exec -a ssh cat KEY).
        XCTAssertEqual(evaluator.check(read(keyPath), evil, process: running("/tmp/ssh")).map(\.rule), ["credential-read"])
        XCTAssertEqual(evaluator.check(read(keyPath), evil, process: running("/usr/bin/cat", argv: ["ssh", keyPath])).map(\.rule),
                       ["credential-read"])
        XCTAssertEqual(evaluator.check(read(keyPath), evil, process: running("/home/dev/bin/ssh")).map(\.rule), ["credential-read"])
        // No process known: no exemption.
        XCTAssertEqual(evaluator.check(read(keyPath), evil).map(\.rule), ["credential-read"])
    }

    func testAReaderWithLoaderOverridesIsNotAReader() throws {
        var evaluator = try builtIn()
        let keyPath = "/home/dev/.ssh/id_rsa"
        let refused = [
            ["LD_PRELOAD=/tmp/steal.so"], ["LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libfakeroot.so"], ["LD_AUDIT=/tmp/a.so"],
            ["LD_LIBRARY_PATH=/tmp/lib"], ["LD_LIBRARY_PATH=/work/project/lib"], ["LD_LIBRARY_PATH=lib"],
            ["LD_LIBRARY_PATH=/usr/lib:"], ["LD_LIBRARY_PATH=/usr/lib;/tmp"], ["LD_LIBRARY_PATH=/usr/lib/../../tmp"],
            ["LD_LIBRARY_PATH=$ORIGIN/../lib"], ["LD_LIBRARY_PATH=/usr/libevil"],
        ]
        for loader in refused {
            let found = evaluator.check(read(keyPath), git, process: running("/usr/bin/ssh", loader: loader))
            XCTAssertEqual(found.map(\.rule), ["credential-read"], "\(loader)")
        }
        for loader in [["LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu"], ["LD_LIBRARY_PATH=/lib64:/usr/lib"], ["LD_PRELOAD="]] {
            XCTAssertEqual(evaluator.check(read(keyPath), git, process: running("/usr/bin/ssh", loader: loader)), [], "\(loader)")
        }
        // An environment cut by the kernel (LD_PRELOAD may be in the lost part), a program with
        // no link on disk.
        var cut = running("/usr/bin/ssh")
        cut.environmentIncomplete = true
        XCTAssertEqual(evaluator.check(read(keyPath), git, process: cut).map(\.rule), ["credential-read"])
        var unlinked = running("/usr/bin/ssh")
        unlinked.executableUnlinked = true
        XCTAssertEqual(evaluator.check(read(keyPath), git, process: unlinked).map(\.rule), ["credential-read"])
        // `except: exe` of a secrets rule is refused the same way (ps with a preload).
        let ps = running("/usr/bin/ps", loader: ["LD_PRELOAD=/tmp/x.so"])
        XCTAssertEqual(evaluator.check(Make.open("/proc/4242/environ"), evil, process: ps).map(\.rule), ["process-memory-read"])
        XCTAssertEqual(evaluator.check(Make.open("/proc/4242/environ"), evil, process: running("/usr/bin/ps")), [])
    }

    func testTheLoaderVariablesAreKeptFromTheExecAndInheritedAtFork() {
        var table = ProcessTable()
        table.apply(.exec(ProcessExec(
            header: Make.header(.exec), result: 0, startTimeNanoseconds: 1, filename: "/usr/bin/ssh", executable: "/usr/bin/ssh",
            argv: ["ssh"], argc: 1, cwd: "/", environment: ["npm_package_name=x", "LD_PRELOAD=/tmp/x.so"])))
        XCTAssertEqual(table[100]?.loaderVariables, ["LD_PRELOAD=/tmp/x.so"])
        table.apply(.fork(ProcessFork(header: Make.header(.fork), childPID: 101, childStartTimeNanoseconds: 2)))
        XCTAssertEqual(table[101]?.loaderVariables, ["LD_PRELOAD=/tmp/x.so"])
        XCTAssertTrue(EnvironmentFilter.names.isSuperset(of: ["LD_PRELOAD", "LD_AUDIT", "LD_LIBRARY_PATH"]))
        let block = Array("HOME=/root\0LD_AUDIT=/a.so\0AWS_SECRET_ACCESS_KEY=s\0".utf8)
        let kept = block.withUnsafeBytes { EnvironmentFilter.kept(from: $0, startsMidVariable: false) }
        XCTAssertEqual(kept, ["LD_AUDIT=/a.so"])
    }

    func testPackageManagersStillReadTheirOwnConfiguration() throws {
        var evaluator = try builtIn()
        let node = running("/usr/bin/node")
        XCTAssertEqual(evaluator.check(read("/home/dev/.npmrc"), npm, process: node), [], "npm reads ~/.npmrc on every command")
        let pip = Make.package("pip", ecosystem: "pypi", source: .pip)
        let python = running("/usr/bin/python3.11")
        XCTAssertEqual(evaluator.check(read("/home/dev/.pypirc"), pip, process: python), [])
        XCTAssertEqual(evaluator.check(read("/home/dev/.config/pip/pip.conf"), pip, process: python), [])
        XCTAssertEqual(evaluator.check(read("/home/dev/.ssh/id_rsa"), pip, process: python).map(\.rule), ["credential-read"])
        XCTAssertEqual(evaluator.check(read("/home/dev/.npmrc"), evil, process: node).map(\.rule), ["credential-read"])
    }

    // MARK: credential objects

    func testACredentialIsRecognisedByItsObjectUnderAnyName() throws {
        var evaluator = try builtIn()
        let python = running("/usr/bin/python3.11")
        let link = evaluator.check(read("/tmp/innocent", object: key), evil, process: python)
        XCTAssertEqual(link.map(\.rule), ["credential-read"])
        XCTAssertEqual(link.first?.package?.name, "evil-pkg")
        XCTAssertEqual(link.first?.evidence.path, "/tmp/innocent")
        XCTAssertTrue(link.first?.message.contains("/home/dev/.ssh/id_rsa") ?? false, link.first?.message ?? "")
        XCTAssertEqual(evaluator.check(read("/tmp/innocent", object: key), coreutils, process: running("/usr/bin/cat")).map(\.contract),
                       ["system"])
        // Another file, no object, or a write-only open: nothing.
        XCTAssertEqual(evaluator.check(read("/tmp/innocent", object: FileObject(device: key.device, inode: 7)), evil, process: python), [])
        XCTAssertEqual(evaluator.check(read("/tmp/innocent"), evil, process: python), [])
        let write = Event.open(FileOpen(
            header: Make.header(.open), result: 3, path: "/tmp/innocent", requestedPath: "/tmp/innocent",
            flags: OpenFlags(rawValue: O_WRONLY), mode: 0, dirfd: -100, count: 1, syscall: .openat, object: key))
        XCTAssertEqual(evaluator.check(write, evil, process: python), [])
        // ssh given the key under another name is still ssh reading its key.
        XCTAssertEqual(evaluator.check(read("/tmp/innocent", object: key), git, process: running("/usr/bin/ssh")), [])
        XCTAssertEqual(evaluator.check(read("/tmp/innocent", object: key), git, process: running("/usr/bin/gpg")).map(\.rule),
                       ["credential-read"])
    }

    func testObjectsAreCollectedFromTheFilesystem() throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("probity-objects-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: home) }
        try FileManager.default.createDirectory(atPath: home + "/.ssh", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: home + "/.ssh/id_rsa", contents: Data("key".utf8))
        var st = stat()
        XCTAssertEqual(stat(home + "/.ssh/id_rsa", &st), 0)
        let object = FileObject(statDevice: UInt64(st.st_dev), inode: UInt64(st.st_ino))
        let variables = ContractVariables(homes: [home], temporaryDirectories: ["/tmp"], workspace: "/work/project")
        let set = try ContractSet(documents: [try PolicyLoader.load(contentsOf: Make.defaultPolicyPath)], variables: variables)
        var evaluator = Evaluator(contracts: set)
        XCTAssertEqual(evaluator.check(read("/tmp/x", object: object), evil, process: running("/usr/bin/cp")).map(\.rule),
                       ["credential-read"])
    }

    // MARK: memory-backed execs

    func testMemoryBackedExecsAreViolations() throws {
        var evaluator = try builtIn()
        func exec(_ executable: String, filename: String, unlinked: Bool, result: Int64 = 0) -> Event {
            var header = Make.header(.exec)
            if unlinked { header.flags.insert(.executableUnlinked) }
            return .exec(ProcessExec(
                header: header, result: result, startTimeNanoseconds: 0, filename: filename, executable: executable,
                argv: ["x"], argc: 1, cwd: "/work/project", environment: []))
        }
        for (package, contract) in [(evil, "default"), (coreutils, "system"), (npm, "package-managers")] {
            let memfd = evaluator.check(exec("/memfd:payload (deleted)", filename: "/proc/self/fd/3", unlinked: true), package)
            XCTAssertEqual(memfd.map(\.rule), ["exec-memory-backed"], contract)
            XCTAssertEqual(memfd.map(\.contract), [contract])
            XCTAssertEqual(memfd.first?.severity, .critical)
            let deleted = evaluator.check(exec("/work/project/tool", filename: "/proc/self/fd/4", unlinked: true), package)
            XCTAssertEqual(deleted.map(\.rule), ["exec-memory-backed"], contract)
        }
        // The kernel's name for a memfd even without the flag; an ordinary exec; a failed one.
        XCTAssertEqual(evaluator.check(exec("/memfd:x", filename: "/dev/fd/3", unlinked: false), evil).map(\.rule), ["exec-memory-backed"])
        XCTAssertEqual(evaluator.check(exec("/usr/bin/true", filename: "/usr/bin/true", unlinked: false), evil), [])
        XCTAssertEqual(evaluator.check(exec("", filename: "/proc/self/fd/3", unlinked: false, result: -2), evil), [])
    }

    func testMemoryBackedKillIsAClassFlagForTheKernel() throws {
        let set = try ContractSet(
            documents: [try PolicyLoader.load(contentsOf: Make.defaultPolicyPath)], variables: Make.variables) { _, _ in [] }
        let plan = EnforcementPlan(set) { _ in [] }
        XCTAssertEqual(plan.classes.map(\.killMemoryBackedExec), [true, true, true])
        // Credential readers are left to user space, like `except: exe`.
        XCTAssertEqual(plan.enforcementClass(contract: 0, executable: "/usr/bin/ssh"), 0)
        XCTAssertEqual(plan.enforcementClass(contract: 0, executable: "/usr/bin/cat"), 1)
        let alertOnly = try Make.contracts("""
            contracts:
              - name: d
                match: default
                rules:
                  - id: m
                    exec: {memory-backed: deny}
            """)
        XCTAssertEqual(EnforcementPlan(alertOnly).classes.map(\.killMemoryBackedExec), [false])
    }

    // MARK: Python start-up hooks

    private func write(_ path: String, pid: Int32 = 100, time: UInt64 = 1_000) -> Event {
        var header = Make.header(.open, pid: pid)
        header.bootTimeNanoseconds = time
        return .open(FileOpen(
            header: header, result: 3, path: path, requestedPath: path, flags: OpenFlags(rawValue: O_WRONLY | O_CREAT), mode: 0o644,
            dirfd: -100, count: 1, syscall: .openat))
    }

    func testStartupHooksAreHeldAndJudgedAgainstRecordsAndTheWriter() throws {
        var evaluator = try builtIn()
        let site = "/tmp/build/venv/lib/python3.11/site-packages"
        let sdist = Make.package("evil-setup", ecosystem: "pypi", source: .pip)
        let pip = Make.package("pip", ecosystem: "pypi", source: .pip)
        let python = running("/tmp/build/venv/bin/python3")
        XCTAssertEqual(evaluator.check(write(site + "/evil.pth"), sdist, process: python), [], "held until the end")
        XCTAssertEqual(evaluator.check(write(site + "/distutils-precedence.pth"), pip, process: python), [])
        XCTAssertEqual(evaluator.check(write(site + "/unlisted.pth"), pip, process: python), [])
        XCTAssertEqual(evaluator.check(write(site + "/sitecustomize.py"), coreutils, process: running("/usr/bin/cp")), [])
        XCTAssertEqual(evaluator.pendingStartupWriteCount, 4)
        let listed: Set<String> = [site + "/distutils-precedence.pth", site + "/evil.pth"]
        let found = evaluator.settlePythonStartupWrites(isListed: { listed.contains($0) }, exists: { _ in true })
        XCTAssertEqual(found.map(\.rule), ["python-startup-write", "python-startup-write", "python-startup-write"])
        XCTAssertEqual(found.map(\.evidence.path), [site + "/evil.pth", site + "/unlisted.pth", site + "/sitecustomize.py"],
                       "a listed file written by a non-installer (a setup.py) still counts")
        XCTAssertEqual(found.map(\.package?.name), ["evil-setup", "pip", "coreutils"])
        XCTAssertEqual(found.map(\.contract), ["default", "package-managers", "system"])
        XCTAssertEqual(found.first?.severity, .high)
        XCTAssertEqual(evaluator.pendingStartupWriteCount, 0)
        // pip's isolated build environment, gone by the end: what pip wrote there cannot run;
        // what a setup.py wrote there is still reported.
        let buildEnv = "/tmp/pip-build-env-x/overlay/lib/python3.11/site-packages"
        _ = evaluator.check(write(buildEnv + "/distutils-precedence.pth"), pip, process: python)
        _ = evaluator.check(write(buildEnv + "/evil.pth"), sdist, process: python)
        let gone = evaluator.settlePythonStartupWrites(isListed: { _ in false }, exists: { _ in false })
        XCTAssertEqual(gone.map(\.evidence.path), [buildEnv + "/evil.pth"])
    }

    func testWhatIsAStartupHook() throws {
        var evaluator = try builtIn()
        let hooks = [
            "/work/project/.venv/lib/python3.12/site-packages/x.pth",
            "/usr/lib/python3/dist-packages/zzz.pth",
            "/root/.local/lib/python3.11/site-packages/usercustomize.py",
            "/usr/local/lib/python3.11/site-packages/sitecustomize/__init__.py",
            "/usr/local/lib/python3.11/site-packages/sitecustomize.cpython-311-x86_64-linux-gnu.so",
            "/usr/lib/python3.11/sitecustomize.py",
            "/etc/python3.11/sitecustomize.py",
            "/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/.hidden.pth",
        ]
        for path in hooks {
            XCTAssertEqual(evaluator.check(write(path), evil, process: running("/usr/bin/python3")), [], path)
            XCTAssertEqual(evaluator.settlePythonStartupWrites { _ in false }.map(\.rule), ["python-startup-write"], path)
        }
        let notHooks = [
            "/work/project/.venv/lib/python3.12/site-packages/pkg/data.pth",  // site.py reads the directory's own only
            "/work/project/.venv/lib/python3.12/site-packages/evil.PTH",  // matched case-sensitively by site.py: never run
            "/work/project/.venv/lib/python3.12/site-packages/requests/__init__.py",
            "/work/project/notes.pth",
        ]
        for path in notHooks {
            XCTAssertEqual(evaluator.check(write(path), evil, process: running("/usr/bin/python3")), [], path)
        }
        // Reading one is what every Python start does.
        XCTAssertEqual(evaluator.check(read("/usr/lib/python3/dist-packages/zzz.pth"), evil), [])
        XCTAssertEqual(evaluator.pendingStartupWriteCount, 0)
    }

    func testAFilePlacedThroughDotDotIsJudgedAtItsNormalisedPath() throws {
        var evaluator = try builtIn()
        let found = evaluator.placed(
            at: "/tmp/v/lib/python3.11/site-packages/../site-packages/./evil.pth", operation: "rename", header: Make.header(.open),
            process: running("/usr/bin/python3"), attribution: evil) { _ in [] }
        XCTAssertEqual(found, [])
        let settled = evaluator.settlePythonStartupWrites { _ in false }
        XCTAssertEqual(settled.map(\.rule), ["python-startup-write"])
        XCTAssertEqual(settled.first?.evidence.path, "/tmp/v/lib/python3.11/site-packages/evil.pth")
        XCTAssertEqual(settled.first?.evidence.operation, "rename")
        // The same function judges other placements: a persistence location.
        let cron = evaluator.placed(
            at: "/etc/cron.d/../cron.d/job", operation: "link", header: Make.header(.open), process: nil, attribution: evil) { _ in [] }
        XCTAssertEqual(cron.map(\.rule), ["persistence-write"])
    }

    func testTheDaemonJudgesHeldWritesAfterAGracePeriod() throws {
        var evaluator = try builtIn()
        XCTAssertEqual(evaluator.check(write("/opt/v/lib/python3.11/site-packages/evil.pth", time: 1_000), evil), [])
        func exit(at time: UInt64) -> Event {
            var header = Make.header(.exit, pid: 200)
            header.bootTimeNanoseconds = time
            return .exit(ProcessExit(header: header, status: 0, startTimeNanoseconds: 0))
        }
        XCTAssertEqual(evaluator.check(exit(at: 2_000), evil), [])
        XCTAssertEqual(evaluator.pendingStartupWriteCount, 1)
        let late = evaluator.check(exit(at: 1_000 + Evaluator.startupWriteGraceNanoseconds + 1), evil)
        XCTAssertEqual(late.map(\.rule), ["python-startup-write"])
        XCTAssertEqual(evaluator.pendingStartupWriteCount, 0)
    }

    func testRecordsAreReadFromTheSiteDirectory() throws {
        let site = FileManager.default.temporaryDirectory.appendingPathComponent("probity-record-\(getpid())/lib/python3.11/site-packages").path
        defer { try? FileManager.default.removeItem(atPath: site + "/../../..") }
        let info = site + "/setuptools-80.0.dist-info"
        try FileManager.default.createDirectory(atPath: info, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: info + "/METADATA", contents: Data("Name: setuptools\nVersion: 80.0\n\n".utf8))
        FileManager.default.createFile(atPath: info + "/RECORD", contents: Data(
            "distutils-precedence.pth,sha256=abc,151\nsetuptools-80.0.dist-info/RECORD,,\n".utf8))
        XCTAssertTrue(Evaluator.listedInRecord(site + "/distutils-precedence.pth"))
        XCTAssertTrue(Evaluator.listedInRecord(site + "/x/../distutils-precedence.pth"))
        XCTAssertFalse(Evaluator.listedInRecord(site + "/evil.pth"))
        XCTAssertFalse(Evaluator.listedInRecord("/usr/lib/python3.11/sitecustomize.py"))
    }

    // MARK: the language

    func testHostileValuesForTheNewKeysNameTheirPlace() {
        let head = "contracts:\n  - name: a\n    match: default\n    rules:\n      - id: r\n"
        let cases: [(String, Int, Int, String)] = [
            ("        secrets:\n          credentials: deny\n          readers: /usr/bin/ssh\n", 8, 20, "`readers` must be a list"),
            ("        secrets:\n          credentials: deny\n          readers:\n            - files: [\"{home}/.ssh/**\"]\n",
             9, 15, "a `readers` entry needs `exe`"),
            ("        secrets:\n          credentials: deny\n          readers:\n            - exe: ssh\n",
             9, 20, "path patterns are absolute"),
            ("        secrets:\n          credentials: deny\n          readers:\n            - exe: \"{tmp}/ssh\"\n",
             9, 20, "not variables"),
            ("        secrets:\n          credentials: deny\n          readers:\n            - exe: \"/**\"\n",
             9, 20, "`**` would let any program read"),
            ("        secrets:\n          credentials: deny\n          readers:\n            - exe: /usr/bin/ssh\n              path: [/x]\n",
             10, 15, "unknown key `path` in a `readers` entry"),
            ("        secrets:\n          credentials: deny\n          readers:\n            - exe: /usr/bin/ssh\n              files: [x]\n",
             10, 23, "path patterns are absolute"),
            ("        secrets:\n          process-memory: deny\n          readers: [{exe: /usr/bin/ssh}]\n",
             8, 20, "set credentials to deny, or list paths"),
            ("        exec:\n          memory-backed: maybe\n", 7, 26, "`memory-backed` is deny or allow"),
            ("        exec:\n          memory-backed: [deny]\n", 7, 26, "`memory-backed` must be a single value"),
            ("        process:\n          python-startup: 3\n", 7, 27, "`python-startup` is deny or allow"),
            ("        process:\n          python-startup: allow\n", 7, 11, "`process` forbids nothing"),
        ]
        for (body, line, column, message) in cases {
            XCTAssertThrowsError(try PolicyLoader.parse(head + body, file: "test.yaml"), message) { error in
                guard let e = error as? ContractError else { return XCTFail("\(error)") }
                XCTAssertTrue(e.message.contains(message), "expected “\(message)” in “\(e.message)”")
                XCTAssertEqual(e.line, line, "\(message): \(e)")
                XCTAssertEqual(e.column, column, "\(message): \(e)")
                XCTAssertTrue(e.description.hasPrefix("test.yaml:\(line):\(column): "), e.description)
            }
        }
    }

    func testReadersWithoutFilesCoverEveryFileOfTheRule() throws {
        let set = try Make.contracts("""
            contracts:
              - name: d
                match: default
                rules:
                  - id: keys
                    secrets:
                      paths: ["/srv/secret/**"]
                      readers: [{exe: [/usr/bin/vault]}]
            """)
        var evaluator = Evaluator(contracts: set)
        XCTAssertEqual(evaluator.check(read("/srv/secret/token"), evil, process: running("/usr/bin/vault")), [])
        XCTAssertEqual(evaluator.check(read("/srv/secret/token"), evil, process: running("/usr/bin/cat")).map(\.rule), ["keys"])
    }
}
