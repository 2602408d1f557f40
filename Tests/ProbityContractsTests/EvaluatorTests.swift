@testable import ProbityAttribution
import ProbityContracts
@testable import ProbityEvents
import ProbityProcess
import XCTest

final class EvaluatorTests: XCTestCase {
    private func defaultEvaluator() throws -> Evaluator {
        Evaluator(contracts: try ContractSet.load(files: [Make.defaultPolicyPath], variables: Make.variables))
    }

    private let O_WRONLY: Int32 = 0o1, O_CREAT: Int32 = 0o100, O_APPEND: Int32 = 0o2000

    func testCredentialReadByADependencyIsAViolationWithEvidence() throws {
        var evaluator = try defaultEvaluator()
        let evil = Make.package("evil-pkg")
        let found = evaluator.check(Make.open("/home/dev/.ssh/id_rsa"), evil)
        XCTAssertEqual(found.count, 1)
        let v = try XCTUnwrap(found.first)
        XCTAssertEqual(v.rule, "credential-read")
        XCTAssertEqual(v.contract, "default")
        XCTAssertEqual(v.severity, .critical)
        XCTAssertEqual(v.action, .kill)
        XCTAssertFalse(v.enforced, "audit mode")
        XCTAssertEqual(v.package?.name, "evil-pkg")
        XCTAssertEqual(v.attribution.reason, "npm-lifecycle")
        XCTAssertEqual(v.evidence.path, "/home/dev/.ssh/id_rsa")
        XCTAssertEqual(v.evidence.access, ["read"])
        XCTAssertEqual(v.processes.first?.executable, "/usr/bin/node")
        XCTAssertTrue(v.ruleLocation.hasSuffix("default.yaml:13:9"), v.ruleLocation)
        // A missing file was not read; a refused read was attempted.
        XCTAssertEqual(evaluator.check(Make.open("/home/dev/.ssh/id_rsa", result: -2), evil).count, 0)
        XCTAssertEqual(evaluator.check(Make.open("/root/.aws/credentials", result: -13), evil).count, 1)
        // Known hosts are under ~/.ssh too; an unrelated file is not.
        XCTAssertEqual(evaluator.check(Make.open("/home/dev/project/.ssh.txt"), evil).count, 0)
    }

    func testPackageManagersReadTheirOwnConfigButNotKeys() throws {
        var evaluator = try defaultEvaluator()
        let npm = Make.package("npm", ecosystem: "deb", source: .dpkg)
        XCTAssertEqual(evaluator.check(Make.open("/home/dev/.npmrc"), npm).count, 0, "npm reads ~/.npmrc every time")
        XCTAssertEqual(evaluator.check(Make.open("/home/dev/.ssh/id_ed25519"), npm).map(\.rule), ["credential-read"])
        XCTAssertEqual(evaluator.check(Make.open("/home/dev/.npmrc"), Make.package("left-pad")).map(\.rule), ["credential-read"])
    }

    func testProcessMemoryOfAnotherProcess() throws {
        var evaluator = try defaultEvaluator()
        let evil = Make.package("evil-pkg")
        XCTAssertEqual(evaluator.check(Make.open("/proc/4242/environ", pid: 100), evil).map(\.rule), ["process-memory-read"])
        XCTAssertEqual(evaluator.check(Make.open("/proc/4242/task/4243/mem", pid: 100), evil).map(\.rule), ["process-memory-read"])
        XCTAssertEqual(evaluator.check(Make.open("/proc/100/environ", pid: 100), evil).count, 0, "its own")
        XCTAssertEqual(evaluator.check(Make.open("/proc/4242/status", pid: 100), evil).count, 0)
        let ps = TrackedProcess(pid: 100, ppid: 1, executable: "/usr/bin/ps")
        XCTAssertEqual(evaluator.check(Make.open("/proc/4242/environ"), evil, process: ps).count, 0, "ps is excepted")
    }

    func testPersistenceWritesButNotReads() throws {
        var evaluator = try defaultEvaluator()
        let evil = Make.package("evil-pkg")
        XCTAssertEqual(evaluator.check(Make.open("/home/dev/.bashrc", O_WRONLY | O_APPEND), evil).map(\.rule), ["persistence-write"])
        XCTAssertEqual(evaluator.check(Make.open("/etc/cron.d/evil", O_WRONLY | O_CREAT), evil).map(\.rule), ["persistence-write"])
        XCTAssertEqual(evaluator.check(Make.open("/home/dev/.bashrc"), evil).count, 0, "reading .bashrc is what shells do")
        let system = Make.package("coreutils", ecosystem: "deb", source: .dpkg)
        XCTAssertEqual(evaluator.check(Make.open("/root/.profile", O_WRONLY), system).map(\.contract), ["system"])
    }

    func testExecFromTemporaryDirectories() throws {
        var evaluator = try defaultEvaluator()
        let evil = Make.package("evil-pkg")
        XCTAssertEqual(evaluator.check(Make.exec("/tmp/stage2", argv: ["/tmp/stage2"]), evil).map(\.rule), ["exec-from-temp"])
        XCTAssertEqual(evaluator.check(Make.exec("/usr/bin/node"), evil).count, 0)
        // A venv under /tmp: its bin/python3 is a symlink to an interpreter outside; what ran is
        // the interpreter (the kernel's resolved file), not the name.
        XCTAssertEqual(evaluator.check(Make.exec(filename: "/tmp/venv/bin/python3", executable: "/usr/bin/python3.11", script: false), evil).count, 0)
        // A script in /tmp run by name: the kernel ran /bin/sh on it; the script is what ran.
        XCTAssertEqual(evaluator.check(Make.exec(filename: "/tmp/stage2.sh", executable: "/usr/bin/dash", script: true), evil).map(\.rule),
                       ["exec-from-temp"])
        // A symlink outside /tmp to a binary in /tmp: the binary ran.
        XCTAssertEqual(evaluator.check(Make.exec(filename: "/opt/innocent", executable: "/tmp/stage2", script: false), evil).map(\.rule),
                       ["exec-from-temp"])
        // execvp trying PATH entries: a file that is not there ran nothing; a refused one counts.
        func failed(_ path: String, _ result: Int64) -> Event {
            .exec(ProcessExec(
                header: Make.header(.exec), result: result, startTimeNanoseconds: 0, filename: path, executable: "",
                argv: ["sh"], argc: 1, cwd: "/", environment: []))
        }
        XCTAssertEqual(evaluator.check(failed("/tmp/app/node_modules/.bin/sh", -2), evil).count, 0)
        XCTAssertEqual(evaluator.check(failed("/tmp/stage2", -13), evil).map(\.rule), ["exec-from-temp"])
    }

    /// An exec is judged by the file the kernel ran; the name asked for counts too only when the
    /// kernel ran an interpreter for a `#!` script (the script is the name asked for). A venv's
    /// `bin/python3` under /tmp is a symlink to an interpreter elsewhere: not a program from /tmp.
    func testExecJudgedByTheFileTheKernelRanAndByNameOnlyForScripts() throws {
        var evaluator = try defaultEvaluator()
        let evil = Make.package("evil-pkg")
        func exec(_ filename: String, ran executable: String, argv: [String], argc: Int? = nil, cwd: String = "/") -> Event {
            var header = Make.header(.exec)
            if let argc, argc > argv.count { header.flags.insert(.argvTruncated) }
            return .exec(ProcessExec(
                header: header, result: 0, startTimeNanoseconds: 0, filename: filename, executable: executable,
                argv: argv, argc: UInt32(argc ?? argv.count), cwd: cwd, environment: []))
        }
        let python = "/root/.pyenv/versions/3.11.7/bin/python3.11"
        // A symlink: the kernel ran the interpreter it points to.
        XCTAssertEqual(evaluator.check(exec("/tmp/venv/bin/python3", ran: python, argv: ["/tmp/venv/bin/python3", "-m", "pip"]), evil).count, 0)
        XCTAssertEqual(evaluator.check(exec("/tmp/venv/bin/python3", ran: python, argv: ["python3"]), evil).count, 0)
        XCTAssertEqual(evaluator.check(exec("bin/python3", ran: python, argv: ["bin/python3", "-c", "pass"], cwd: "/tmp/venv"), evil).count, 0)
        // A `#!` script: the kernel put its name after the interpreter (and the `#!` argument).
        let script = evaluator.check(exec("/tmp/stage2.sh", ran: "/usr/bin/dash", argv: ["/bin/sh", "/tmp/stage2.sh"]), evil)
        XCTAssertEqual(script.map(\.rule), ["exec-from-temp"])
        XCTAssertEqual(script.first?.evidence.path, "/tmp/stage2.sh")
        XCTAssertEqual(evaluator.check(exec("/tmp/x", ran: "/usr/bin/env", argv: ["/usr/bin/env", "python3", "/tmp/x", "a"]), evil).map(\.rule),
                       ["exec-from-temp"], "#!/usr/bin/env python3")
        XCTAssertEqual(evaluator.check(exec("./stage2", ran: "/usr/bin/dash", argv: ["/bin/sh", "./stage2"], cwd: "/tmp"), evil).map(\.rule),
                       ["exec-from-temp"], "a relative script name is joined to the cwd")
        XCTAssertEqual(evaluator.check(exec("/tmp/venv/bin/pip", ran: python, argv: [python, "/tmp/venv/bin/pip", "install"]), evil).map(\.rule),
                       ["exec-from-temp"], "a venv's console script under /tmp is a script in /tmp")
        // argv cut before the name could be seen: assumed a script (fail closed).
        XCTAssertEqual(evaluator.check(exec("/tmp/stage2.sh", ran: "/usr/bin/dash", argv: ["/bin/sh"], argc: 2), evil).map(\.rule),
                       ["exec-from-temp"])
        // A symlink outside /tmp to a binary in /tmp: the binary ran.
        let binary = evaluator.check(exec("/usr/local/bin/tool", ran: "/tmp/tool", argv: ["tool"]), evil)
        XCTAssertEqual(binary.map(\.rule), ["exec-from-temp"])
        XCTAssertEqual(binary.first?.evidence.path, "/tmp/tool")
    }

    func testNetworkAllowListWithHostnames() throws {
        var evaluator = try defaultEvaluator()
        let evil = Make.package("evil-pkg")
        let exfil = SocketAddress.ipv4(address: (10, 203, 0, 11), port: 443)
        let registry = SocketAddress.ipv4(address: (10, 203, 0, 10), port: 443)
        evaluator.hostnames = { address in address.address == "10.203.0.10" ? ["registry.npmjs.org"] : ["other.test"] }
        let flagged = evaluator.check(Make.connect(exfil), evil)
        XCTAssertEqual(flagged.map(\.rule), ["egress"])
        XCTAssertEqual(flagged.first?.evidence.hostnames, ["other.test"])
        XCTAssertEqual(flagged.first?.evidence.address, "10.203.0.11")
        XCTAssertEqual(flagged.first?.evidence.port, 443)
        XCTAssertEqual(evaluator.check(Make.connect(registry), evil).count, 0, "a registry by name")
        XCTAssertEqual(evaluator.check(Make.connect(.ipv4(address: (10, 203, 0, 10), port: 22)), evil).count, 1, "wrong port")
        XCTAssertEqual(evaluator.check(Make.connect(.ipv4(address: (127, 0, 0, 1), port: 9)), evil).count, 0, "loopback")
        XCTAssertEqual(evaluator.check(Make.connect(.ipv4(address: (10, 255, 255, 53), port: 53), transport: .udp, syscall: .sendto), evil).count, 0, "DNS to the resolver")
        XCTAssertEqual(evaluator.check(Make.connect(.ipv4(address: (8, 8, 8, 8), port: 53), transport: .udp, syscall: .sendto), evil).map(\.rule), ["egress"], "DNS elsewhere")
        XCTAssertEqual(evaluator.check(Make.connect(.unix(path: "/var/run/nscd/socket")), evil).count, 0, "unix sockets need unix entries")
    }

    func testNetworkNoneDenyListsAndUnixEntries() throws {
        var evaluator = Evaluator(contracts: try Make.contracts("""
            contracts:
              - name: offline
                match: {name: "build-*"}
                rules:
                  - id: offline
                    network: none
              - name: d
                match: default
                rules:
                  - id: no-docker
                    severity: critical
                    action: deny
                    network:
                      deny:
                        - unix: [/run/docker.sock, /var/run/docker.sock]
                        - cidr: 169.254.169.254
            """))
        let builder = Make.package("build-tool")
        XCTAssertEqual(evaluator.check(Make.connect(.ipv4(address: (1, 2, 3, 4), port: 80)), builder).map(\.rule), ["offline"])
        let other = Make.package("other")
        XCTAssertEqual(evaluator.check(Make.connect(.unix(path: "/run/docker.sock")), other).map(\.rule), ["no-docker"])
        XCTAssertEqual(evaluator.check(Make.connect(.ipv4(address: (169, 254, 169, 254), port: 80)), other).map(\.rule), ["no-docker"])
        XCTAssertEqual(evaluator.check(Make.connect(.ipv4(address: (1, 2, 3, 4), port: 80)), other).count, 0)
    }

    func testFilesRulesWithPackageAndWorkspaceVariables() throws {
        var evaluator = Evaluator(contracts: try Make.contracts("""
            contracts:
              - name: tidy
                match: default
                rules:
                  - id: writes
                    files:
                      write:
                        allow: ["{package}/**", "{workspace}/build/**", "{tmp}/**"]
                      read:
                        deny: ["{workspace}/.env"]
            """))
        let pkg = Make.package("tidy", root: "/work/project/node_modules/tidy")
        XCTAssertEqual(evaluator.check(Make.open("/work/project/node_modules/tidy/build/x.node", O_WRONLY | O_CREAT), pkg).count, 0)
        XCTAssertEqual(evaluator.check(Make.open("/work/project/node_modules/tidyx/y", O_WRONLY), pkg).count, 1, "a sibling with a longer name")
        XCTAssertEqual(evaluator.check(Make.open("/work/project/build/out.o", O_WRONLY), pkg).count, 0)
        XCTAssertEqual(evaluator.check(Make.open("/tmp/scratch", O_WRONLY), pkg).count, 0)
        let outside = evaluator.check(Make.open("/work/project/src/main.c", O_WRONLY), pkg)
        XCTAssertEqual(outside.map(\.rule), ["writes"])
        XCTAssertEqual(evaluator.check(Make.open("/work/project/.env"), pkg).map(\.rule), ["writes"])
    }

    func testDeleteRules() throws {
        var evaluator = Evaluator(contracts: try Make.contracts("""
            contracts:
              - name: d
                match: default
                rules:
                  - id: no-deleting-sources
                    files:
                      delete:
                        deny: ["{workspace}/src/**"]
            """))
        func removal(_ path: String, result: Int64 = 0) -> Event {
            .unlink(FileRemoval(header: Make.header(.unlink), result: result, path: path, requestedPath: path, dirfd: -100,
                                isDirectory: false, syscall: .unlinkat))
        }
        let pkg = Make.package("cleaner")
        let found = evaluator.check(removal("/work/project/src/main.c"), pkg)
        XCTAssertEqual(found.map(\.rule), ["no-deleting-sources"])
        XCTAssertEqual(found.first?.evidence.access, ["delete"])
        XCTAssertEqual(evaluator.check(removal("/work/project/build/x.o"), pkg).count, 0)
        XCTAssertEqual(evaluator.check(removal("/work/project/src/gone.c", result: -2), pkg).count, 0, "nothing was removed")
    }

    func testSelectionByStandingAndInheritance() throws {
        let set = try Make.contracts("""
            contracts:
              - name: strict-new
                match: {standing: [new, changed]}
                extends: base
                rules:
                  - id: net
                    network: none
              - name: direct-deps
                match: {standing: direct, ecosystem: npm}
                extends: base
              - name: base
                match: default
                rules:
                  - id: net
                    network:
                      allow: [{port: 443}]
                  - id: keys
                    secrets: {credentials: deny}
            """)
        var baselineDocument = SBOMDocument(format: .cycloneDXJSON, specVersion: "1.5")
        baselineDocument.components = [
            SBOMComponent(name: "old", version: "1.0.0", purl: "pkg:npm/old@1.0.0"),
            SBOMComponent(name: "bumped", version: "1.0.0", purl: "pkg:npm/bumped@1.0.0"),
        ]
        let baseline = Baseline(baselineDocument)
        func pkg(_ name: String, _ version: String, direct: Bool?) -> InstalledPackage {
            InstalledPackage(name: name, version: version, ecosystem: "npm", source: .npm, isDirect: direct)
        }
        XCTAssertEqual(set.contractName(for: pkg("old", "1.0.0", direct: true), baseline: baseline), "direct-deps")
        XCTAssertEqual(set.contractName(for: pkg("old", "1.0.0", direct: false), baseline: baseline), "base")
        XCTAssertEqual(set.contractName(for: pkg("bumped", "2.0.0", direct: true), baseline: baseline), "strict-new")
        XCTAssertEqual(set.contractName(for: pkg("fresh", "0.1.0", direct: false), baseline: baseline), "strict-new")
        XCTAssertEqual(set.contractName(for: nil), "base", "unattributed code falls to the default")
        var evaluator = Evaluator(contracts: set, baseline: baseline)
        let fresh = Attribution(package: pkg("fresh", "0.1.0", direct: false), reason: .executable, evidence: "", executablePackage: nil)
        let https = Make.connect(.ipv4(address: (1, 2, 3, 4), port: 443))
        XCTAssertEqual(evaluator.check(https, fresh).map(\.contract), ["strict-new"], "the stricter rule replaced the inherited one")
        XCTAssertEqual(evaluator.check(Make.open("/root/.ssh/id_rsa"), fresh).map(\.rule), ["keys"], "inherited rules still apply")
        let old = Attribution(package: pkg("old", "1.0.0", direct: false), reason: .executable, evidence: "", executablePackage: nil)
        XCTAssertEqual(evaluator.check(https, old).count, 0)
    }

    func testSurvivorsOutliveOrDaemonize() throws {
        var evaluator = try defaultEvaluator()
        let evil = Make.package("evil-pkg")
        let lingering = TrackedProcess(pid: 300, ppid: 200, executable: "/usr/bin/sleep", argv: ["sleep", "60"])
        let daemon = TrackedProcess(pid: 301, ppid: 1, executable: "/usr/bin/python3", argv: ["python3", "d.py"])
        let found = evaluator.finish(
            survivors: [lingering, daemon], attribution: { _ in evil }, lineage: { _ in [] },
            daemonized: { $0.pid == 301 })
        XCTAssertEqual(found.count, 2)
        XCTAssertTrue(found[0].message.contains("was still running"), found[0].message)
        XCTAssertTrue(found[1].message.contains("daemonized"), found[1].message)
        XCTAssertEqual(found.map(\.rule), ["outlive", "outlive"])
    }
}

final class EnforcementPlanTests: XCTestCase {
    func testKillRulesBecomeKernelPathEntries() throws {
        let set = try Make.contracts("""
            contracts:
              - name: d
                match: default
                rules:
                  - id: keys
                    action: kill
                    secrets: {paths: ["{home}/.ssh/**", "/etc/ssh/ssh_host_*_key", "/a/**/b"], process-memory: deny}
                  - id: temp
                    action: kill
                    exec: {deny: ["{tmp}/**"]}
                    except: {path: ["/tmp/ok/**"]}
                  - id: net
                    action: deny
                    network:
                      allow: [{cidr: 127.0.0.0/8}, {port: 53, protocol: udp}, {host: "*.example.test", port: 443}]
                  - id: report-only
                    secrets: {credentials: deny}
            """)
        let plan = EnforcementPlan(set) { pattern in
            pattern == "/etc/ssh/ssh_host_*_key" ? ["/etc/ssh/ssh_host_rsa_key", "/etc/ssh/ssh_host_ed25519_key"] : []
        }
        let c = try XCTUnwrap(plan.classes.first)
        XCTAssertEqual(c.number, 1)
        let entries = Set(c.paths.map { "\($0.kill ? "kill" : "except") \($0.prefix ? "prefix" : "exact") \($0.path) \($0.access.rawValue)" })
        XCTAssertEqual(entries, [
            "kill prefix /home/dev/.ssh 1", "kill exact /home/dev/.ssh 1", "kill prefix /root/.ssh 1", "kill exact /root/.ssh 1",
            "kill exact /etc/ssh/ssh_host_rsa_key 1", "kill exact /etc/ssh/ssh_host_ed25519_key 1",
            "kill prefix /tmp 8", "kill exact /tmp 8", "except prefix /tmp/ok 15", "except exact /tmp/ok 15",
        ], "`/a/**/b` is left to user space; alert rules add nothing")
        XCTAssertTrue(c.processMemory)
        XCTAssertTrue(c.networkAllowList)
        XCTAssertEqual(c.hosts.map(\.pattern.pattern), ["*.example.test"])
        XCTAssertTrue(c.network.contains { $0.address == [127, 0, 0, 0] && $0.prefixLength == 8 && !$0.deny })
        XCTAssertTrue(c.network.contains { $0.prefixLength == 0 && $0.ports == 53...53 && $0.protocol == 17 })
        XCTAssertEqual(plan.rules, ["d/keys", "d/temp", "d/net"])
        XCTAssertEqual(plan.enforcementClass(contract: 0, executable: "/usr/bin/node"), 1)
        XCTAssertEqual(plan.enforcementClass(contract: nil, executable: "/usr/bin/node"), 0)
    }
}
