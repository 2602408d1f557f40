#if canImport(Glibc)
import Glibc
#endif
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import ProbityMonitor
import XCTest

/// `probity run` as a CI gate, on the real kernel: the demo's misbehaving packages are named with
/// exactly the rules they broke, a clean run reports nothing and keeps the command's status, and
/// the report files are valid (SARIF against the 2.1.0 schema, JUnit as XML).
final class RunCommandTests: XCTestCase {
    var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    private func probity(_ arguments: [String], environment: [String: String] = [:]) throws -> ProbityCommand.Finished {
        try ProbityCommand.run(arguments, environment: environment)
    }

    /// Runs `make demo`'s script (Tests/Fixtures/demo/demo.sh) with the built probity; returns its
    /// exit status (0: probity gave the status the mode expects) and everything it printed.
    private func demo(report: String, environment: [String: String]) throws -> (Int32, String) {
        try Kernel.output(repository.appendingPathComponent("Tests/Fixtures/demo/demo.sh").path, [try Kernel.probityBinary().path, report],
                          mergeErrors: true, environment: environment)
    }

    private func violations(_ report: String) throws -> (document: [String: Any], list: [[String: Any]]) {
        try ProbityCommand.violations(report)
    }

    private func pair(_ v: [String: Any]) -> String {
        let package = (v["package"] as? [String: Any])?["name"] as? String ?? "unattributed"
        let evidence = v["evidence"] as? [String: Any] ?? [:]
        let target = evidence["port"].map { "\($0)" } ?? ""
        return "\(package) \(v["rule"] as? String ?? "?")\(target.isEmpty ? "" : " :\(target)")"
    }

    /// `make demo`'s scenario: each misbehaviour is exactly one violation, charged to the right
    /// package; the well-behaved package and the package managers have none.
    func testDemoNamesExactlyTheMisbehavingPackagesAndRules() throws {
        let report = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: report) }
        let summary = report + "/step-summary.md"
        let (status, log) = try demo(report: report + "/out", environment: ["GITHUB_STEP_SUMMARY": summary])
        XCTAssertEqual(status, 0, "probity failed the run with status 86:\n\(log)")

        let (document, list) = try violations(report + "/out")
        XCTAssertEqual(document["passed"] as? Bool, false)
        XCTAssertEqual(document["lost_events"] as? Int, 0)
        XCTAssertEqual(document["command_status"] as? Int, 0, "npm and pip installed everything:\n\(log)")
        XCTAssertEqual(Set(list.map(pair)), [
            "evil-hook credential-read",
            "evil-hook process-memory-read",
            "evil-hook persistence-write",
            "evil-hook exec-from-temp",
            "evil-hook egress :8080",
            "evil-hook egress :8443",
            "evil-setup credential-read",
            "evil-setup egress :8443",
        ], log)
        XCTAssertEqual(list.count, 8, "one finding per behaviour: \(list.map(pair))")
        for v in list {
            let package = try XCTUnwrap(v["package"] as? [String: Any])
            XCTAssertEqual(v["contract"] as? String, "default", "\(pair(v)) is judged by the default contract")
            let reason = (v["attribution"] as? [String: Any])?["reason"] as? String
            if package["name"] as? String == "evil-hook" {
                XCTAssertEqual(package["version"] as? String, "1.0.0")
                XCTAssertTrue(["npm-lifecycle", "inherited"].contains(reason ?? ""), "\(pair(v)): \(reason ?? "nil")")
            } else {
                XCTAssertEqual(package["version"] as? String, "0.4.0")
                XCTAssertEqual(reason, "python-build", pair(v))
            }
            let chain = try XCTUnwrap(v["processes"] as? [[String: Any]])
            XCTAssertFalse(chain.isEmpty)
            XCTAssertFalse(chain.contains { ($0["executable"] as? String ?? "").hasSuffix("/probity") }, "the chain stops at the command")
        }

        // The report files: SARIF validates against the 2.1.0 schema, JUnit parses with one
        // failure per finding, the summary names the packages and reached the step summary.
        try validateSARIF(report + "/out/report.sarif")
        let junit = try Data(contentsOf: URL(fileURLWithPath: report + "/out/junit.xml"))
        let counter = FailureCounter()
        let parser = XMLParser(data: junit)
        parser.delegate = counter
        XCTAssertTrue(parser.parse(), "junit.xml is well-formed: \(String(describing: parser.parserError))")
        XCTAssertEqual(counter.failures, 8)
        let markdown = try String(contentsOfFile: report + "/out/summary.md", encoding: .utf8)
        XCTAssertTrue(markdown.contains("evil-hook@1.0.0") && markdown.contains("evil-setup@0.4.0"), markdown)
        XCTAssertFalse(markdown.contains("good-hook@"), markdown)
        XCTAssertEqual(try String(contentsOfFile: summary, encoding: .utf8), markdown + "\n")
        let events = try String(contentsOfFile: report + "/out/events.jsonl", encoding: .utf8)
        XCTAssertTrue(events.contains("\"name\":\"good-hook\""), "good-hook's own events were seen and attributed")
    }

    func testCleanRunReportsNothingAndKeepsTheCommandStatus() throws {
        let report = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: report) }
        let run = try probity(["run", "--report", report, "--", "/bin/sh", "-c", "ls / >/dev/null; cat /etc/hostname >/dev/null; exit 3"])
        XCTAssertEqual(run.status, 3, run.stderr)
        let (document, list) = try violations(report)
        XCTAssertEqual(list.count, 0, "\(list)")
        XCTAssertEqual(document["passed"] as? Bool, true)
        XCTAssertEqual(document["command_status"] as? Int, 3)
        XCTAssertGreaterThan((document["events"] as? [String: Any])?["exec"] as? Int ?? 0, 2)
        XCTAssertTrue(try String(contentsOfFile: report + "/summary.md", encoding: .utf8).contains("No contract violations."))
        try validateSARIF(report + "/report.sarif")
    }

    /// A process left running by the command breaks `outlive`; `--fail-on` above its severity
    /// lets the run pass with the command's status.
    func testSurvivorsAndFailOn() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let policy = dir + "/outlive.yaml"
        try """
            version: 1
            contracts:
              - name: everyone
                match: default
                rules:
                  - id: no-leftovers
                    severity: medium
                    process: {outlive: deny}
            """.write(toFile: policy, atomically: true, encoding: .utf8)
        let marker = "sleep 30.\(getpid())"
        defer { _ = try? probity(["run", "--report", dir + "/cleanup", "--", "/usr/bin/pkill", "-f", marker]) }
        let run = try probity(["run", "--policy", policy, "--report", dir + "/r1", "--",
                               "/bin/sh", "-c", "\(marker) >/dev/null 2>&1 & exit 0"])
        XCTAssertEqual(run.status, 86, run.stderr)
        let list = try violations(dir + "/r1").list
        XCTAssertEqual(list.map { $0["rule"] as? String }, ["no-leftovers"], "\(list)")
        let evidence = try XCTUnwrap(list.first?["evidence"] as? [String: Any])
        XCTAssertEqual(evidence["operation"] as? String, "process")
        XCTAssertEqual(evidence["path"] as? String, "/usr/bin/sleep")

        // A real daemon: double fork, setsid, the middle process exits.
        try """
            version: 1
            contracts:
              - name: everyone
                match: default
                rules:
                  - id: no-daemons
                    severity: high
                    process: {outlive: deny, daemonize: deny}
            """.write(toFile: dir + "/daemon.yaml", atomically: true, encoding: .utf8)
        let daemonScript = "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        os.closerange(0, 1024); time.sleep(30.\(getpid()))\n    os._exit(0)\nos.wait()"
        defer { _ = try? probity(["run", "--report", dir + "/cleanup2", "--", "/usr/bin/pkill", "-f", "time.sleep\\(30.\(getpid())"]) }
        let daemonized = try probity(["run", "--policy", dir + "/daemon.yaml", "--report", dir + "/r3", "--", "/usr/bin/env", "python3", "-c", daemonScript])
        XCTAssertEqual(daemonized.status, 86, daemonized.stderr)
        let found = try violations(dir + "/r3").list
        XCTAssertEqual(found.count, 1, "\(found)")
        XCTAssertTrue((found.first?["message"] as? String ?? "").contains("daemonized"), "\(found)")

        let lenient = try probity(["run", "--policy", policy, "--fail-on", "high", "--report", dir + "/r2", "--",
                                   "/bin/sh", "-c", "\(marker) >/dev/null 2>&1 & exit 5"])
        XCTAssertEqual(lenient.status, 5, lenient.stderr)
        XCTAssertEqual(try violations(dir + "/r2").list.count, 1, "still reported")
    }

    func testInvalidPolicyStopsTheRunBeforeTheCommand() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "contracts:\n  - name: a\n    match: default\n    rules:\n      - id: r\n        netwerk: none\n"
            .write(toFile: dir + "/bad.yaml", atomically: true, encoding: .utf8)
        let run = try probity(["run", "--policy", dir + "/bad.yaml", "--report", dir + "/r", "--", "/usr/bin/touch", dir + "/ran"])
        XCTAssertEqual(run.status, 2)
        XCTAssertTrue(run.stderr.contains("\(dir)/bad.yaml:6:9: unknown key `netwerk`"), run.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/ran"), "the command never ran")
    }

    /// A hostname rule: `allowed.test:443` passes and `other.test` is flagged, both resolved by
    /// dnsmasq in a network namespace during the run; the evidence shows the name and the address.
    func testHostnameRulesMatchNamesSeenInDNSAnswers() throws {
        let network = try DNSTestNetwork(listenAddresses: ["10.203.0.2"])
        defer { network.close() }
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
            contracts:
              - name: everyone
                match: default
                rules:
                  - id: egress
                    network:
                      allow:
                        - {host: allowed.test, port: 443}
                        - {port: 53}
            """.write(toFile: dir + "/hosts.yaml", atomically: true, encoding: .utf8)
        // dnsmasq is the configured resolver: only its answers are believed.
        try "nameserver 10.203.0.2\n".write(toFile: dir + "/resolv.conf", atomically: true, encoding: .utf8)
        // Resolve each name at dnsmasq, then start a connection to the answer.
        let script = """
            import socket, struct, time
            def resolve(name):
                labels = b''.join(bytes([len(l)]) + l.encode() for l in name.split('.'))
                query = struct.pack('>6H', 0x5052, 0x0100, 1, 0, 0, 0) + labels + b'\\0' + struct.pack('>2H', 1, 1)
                for _ in range(100):
                    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.3)
                    try:
                        s.connect(('10.203.0.2', 53)); s.send(query); answer = s.recv(4096)
                        return socket.inet_ntoa(answer[-4:])
                    except OSError:
                        time.sleep(0.1)
                    finally:
                        s.close()
                raise SystemExit('no answer for ' + name)
            for name in ['allowed.test', 'other.test']:
                address = resolve(name)
                time.sleep(0.05)
                c = socket.socket(); c.setblocking(False); c.connect_ex((address, 443)); c.close()
            """
        let run = try probity(["run", "--policy", dir + "/hosts.yaml", "--resolv-conf", dir + "/resolv.conf", "--report", dir + "/r",
                               "--", "/usr/bin/env", "python3", "-c", script])
        XCTAssertEqual(run.status, 86, run.stderr + "\ndnsmasq: " + network.log)
        XCTAssertTrue(run.stderr.contains("probity: DNS resolvers 10.203.0.2 from \(dir)/resolv.conf"), run.stderr)
        XCTAssertTrue(run.stderr.contains(" answers believed, "), "the DNS counters are printed: \(run.stderr)")
        let list = try violations(dir + "/r").list
        XCTAssertEqual(list.count, 1, "\(list)")
        let evidence = try XCTUnwrap(list.first?["evidence"] as? [String: Any])
        XCTAssertEqual(evidence["address"] as? String, "10.203.0.11")
        XCTAssertEqual(evidence["port"] as? Int, 443)
        XCTAssertEqual(evidence["hostnames"] as? [String], ["other.test"])
        XCTAssertTrue((list.first?["message"] as? String ?? "").contains("(other.test)"), "\(list)")
    }

    /// The built-in `egress` rule in enforce mode: DNS to the configured resolver goes through
    /// and is answered; a query to another server on port 53, UDP or TCP, is refused with EPERM
    /// and reported.
    func testPort53OnlyToTheConfiguredResolver() throws {
        let network = try DNSTestNetwork(listenAddresses: ["10.203.0.2"])
        defer { network.close() }
        try network.addAddress("10.203.0.3/24")
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "# test\nnameserver 10.203.0.2\n".write(toFile: dir + "/resolv.conf", atomically: true, encoding: .utf8)
        let script = """
            import socket, struct, sys, time
            time.sleep(0.5)  # the process's own class is set a few milliseconds after its exec
            query = struct.pack('>6H', 0x5052, 0x0100, 1, 0, 0, 0) + b'\\x07allowed\\x04test\\0' + struct.pack('>2H', 1, 1)
            out = open(sys.argv[1], 'w')
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
            for _ in range(20):
                try:
                    s.sendto(query, ('10.203.0.2', 53)); s.recv(4096); out.write('resolver answered\\n'); break
                except socket.timeout:
                    pass
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                t = socket.socket(socket.AF_INET, kind); t.settimeout(2)
                try:
                    if kind == socket.SOCK_DGRAM: t.sendto(query, ('10.203.0.3', 53))
                    else: t.connect(('10.203.0.3', 53))
                    out.write('other server reached\\n')
                except OSError as e:
                    out.write('other server %d\\n' % e.errno)
            """
        let run = try probity(["run", "--mode", "enforce", "--resolv-conf", dir + "/resolv.conf", "--report", dir + "/r",
                               "--", "/usr/bin/env", "python3", "-c", script, dir + "/out"])
        XCTAssertEqual(run.status, 86, run.stderr + "\ndnsmasq: " + network.log)
        let out = try String(contentsOfFile: dir + "/out", encoding: .utf8)
        XCTAssertEqual(out, "resolver answered\nother server \(EPERM)\nother server \(EPERM)\n", run.stderr)
        let list = try violations(dir + "/r").list
        // The UDP send and the TCP connect are one finding (same rule, package and target), counted twice.
        let egress = list.filter { $0["rule"] as? String == "egress" }
        XCTAssertEqual(egress.count, 1, "\(list.map(pair))")
        let evidence = try XCTUnwrap(egress.first?["evidence"] as? [String: Any])
        XCTAssertEqual(evidence["address"] as? String, "10.203.0.3")
        XCTAssertEqual(evidence["port"] as? Int, 53)
        XCTAssertEqual(egress.first?["count"] as? Int, 2, "\(list)")
    }

    /// `probity learn` on the demo, then `probity run` with what it learnt: nothing is flagged.
    func testLearnThenRunWithTheLearntContractIsClean() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let contract = dir + "/learned.yaml"
        for mode in ["learn", "check"] {
            let (status, log) = try demo(report: "\(dir)/\(mode)", environment: ["DEMO_MODE": mode, "DEMO_CONTRACT": contract])
            XCTAssertEqual(status, 0, "\(mode):\n\(log)")
        }
        let learnt = try String(contentsOfFile: contract, encoding: .utf8)
        XCTAssertTrue(learnt.contains("name: learned/npm/evil-hook"), learnt)
        XCTAssertTrue(learnt.contains("{home}/.ssh/id_rsa"), "paths are generalised: \(learnt)")
        XCTAssertTrue(learnt.contains("/proc/*/environ"), learnt)
        XCTAssertFalse(learnt.contains("name: learned/npm/good-hook"), "the well-behaved package needed nothing: \(learnt)")
        let (document, list) = try violations(dir + "/check")
        XCTAssertEqual(list.count, 0, "\(list.map(pair))")
        XCTAssertEqual(document["passed"] as? Bool, true)
    }

    /// Enforce mode: the kernel kills a credential read and an exec from /tmp before the process
    /// runs another instruction, and refuses a connect with EPERM; the well-behaved steps run.
    func testEnforceModeKillsInTheKernelAndDeniesConnects() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/home/.ssh", withIntermediateDirectories: true)
        try "key".write(toFile: dir + "/home/.ssh/id_rsa", atomically: true, encoding: .utf8)
        try "#!/bin/sh\necho stage2 ran >> \(dir)/ran\n".write(toFile: "/tmp/probity-stage2-\(getpid())", atomically: true, encoding: .utf8)
        chmod("/tmp/probity-stage2-\(getpid())", 0o755)
        defer { unlink("/tmp/probity-stage2-\(getpid())") }
        // Python here is unattributed code, judged by the built-in default contract. It was
        // started by `env` (a system tool, nothing enforced): its own class is set when user space
        // has attributed its exec, a few milliseconds in (docs/contracts.md), hence the pause.
        let script = """
            import os, socket, subprocess, sys, time
            time.sleep(0.5)
            out = open(sys.argv[1] + '/steps', 'a')
            def step(name, body):
                pid = os.fork()
                if pid == 0:
                    body(); out.write(name + ' done\\n'); out.flush(); os._exit(0)
                _, status = os.waitpid(pid, 0)
                out.write('%s %s\\n' % (name, 'killed' if os.WIFSIGNALED(status) and os.WTERMSIG(status) == 9 else 'exited')); out.flush()
            step('key', lambda: open(os.path.expanduser('~/.ssh/id_rsa')).read())
            step('stage2', lambda: os.execv('/tmp/probity-stage2-%s', ['stage2']))
            s = socket.socket(); s.settimeout(2)
            out.write('connect %d\\n' % s.connect_ex(('192.0.2.1', 443))); out.flush()
            step('fine', lambda: open('/etc/hostname').read())
            """.replacingOccurrences(of: "%s', ['stage2']", with: "\(getpid())', ['stage2']")
        let run = try probity(["run", "--mode", "enforce", "--report", dir + "/r", "--", "/usr/bin/env", "python3", "-c", script, dir],
                              environment: ["HOME": dir + "/home"])
        XCTAssertEqual(run.status, 86, run.stderr)
        let steps = try String(contentsOfFile: dir + "/steps", encoding: .utf8)
        XCTAssertEqual(steps, "key killed\nstage2 killed\nconnect \(EPERM)\nfine done\nfine exited\n", run.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/ran"), "the second stage never ran")
        let list = try violations(dir + "/r").list
        let byRule = Dictionary(grouping: list) { $0["rule"] as? String ?? "" }
        XCTAssertEqual(Set(byRule.keys), ["credential-read", "exec-from-temp", "egress"], "\(list)")
        for v in list {
            XCTAssertEqual(v["enforced"] as? Bool, true, "\(v)")
            XCTAssertEqual(v["enforcement"] as? String, "kernel", "\(v)")
        }
    }

    /// `make demo` in enforce mode: each payload dies at its first step (the key read), in the
    /// kernel, so nothing after it happens: no persistence, no second stage, no connection.
    func testDemoInEnforceModeStopsEachPayloadAtItsFirstStep() throws {
        let report = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: report) }
        let (status, log) = try demo(report: report + "/out", environment: ["DEMO_MODE": "enforce"])
        XCTAssertEqual(status, 0, log)
        let (document, list) = try violations(report + "/out")
        XCTAssertEqual(document["mode"] as? String, "enforce")
        XCTAssertEqual(Set(list.map(pair)), ["evil-hook credential-read", "evil-setup credential-read"], log)
        for v in list {
            XCTAssertEqual(v["enforcement"] as? String, "kernel", "\(v)")
        }
        // Count connects to the test host, not all connects: the package managers make their own
        // (on machines with nscd, glibc asks it over a Unix socket on every user lookup).
        let events = try String(contentsOfFile: report + "/out/events.jsonl", encoding: .utf8)
        let home = events.split(separator: "\n").filter { $0.contains("\"kind\":\"connect\"") && $0.contains("\"10.205.0.2\"") }
        XCTAssertEqual(home, [], "nothing phoned home")
        XCTAssertTrue(events.contains("\"kind\":\"exec\""), "the events were written")
    }

    /// Validates with Python's jsonschema (installed once from PyPI into .build/test-venv).
    func validateSARIF(_ path: String) throws {
        let schema = repository.appendingPathComponent("Tests/Fixtures/schemas/sarif-schema-2.1.0.json").path
        XCTAssertTrue(FileManager.default.fileExists(atPath: schema), "the SARIF schema is at \(schema)")
        let venv = repository.appendingPathComponent(".build/test-venv").path
        let setup = """
            set -e
            [ -x \(venv)/bin/python ] && \(venv)/bin/python -c 'import jsonschema' 2>/dev/null && exit 0
            python3 -m venv \(venv)
            \(venv)/bin/pip install -q jsonschema
            """
        XCTAssertEqual(try shell(setup), 0, "jsonschema installed from PyPI")
        let check = """
            \(venv)/bin/python - <<'PY'
            import json, jsonschema
            schema = json.load(open("\(schema)"))
            jsonschema.Draft4Validator(schema).validate(json.load(open("\(path)")))
            PY
            """
        XCTAssertEqual(try shell(check), 0, "\(path) validates against the SARIF 2.1.0 schema")
    }

    private func shell(_ script: String) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", script]
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}

private final class FailureCounter: NSObject, XMLParserDelegate {
    var failures = 0
    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
        if name == "failure" { failures += 1 }
    }
}

/// Real packages from PyPI (reachable from these machines) installed into a venv under
/// `probity learn`, then again under `probity run` with what was learnt.
final class PyPIRunTests: XCTestCase {
    func testLearnThenCheckARealPipInstall() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let probity = try Kernel.probityBinary().path
        let packages = "six idna packaging"
        let script = """
            set -e
            cd \(dir)
            python3 -m venv learn-env && python3 -m venv check-env
            \(probity) learn -q -o learned.yaml --report learn -- learn-env/bin/pip install -q --no-cache-dir \(packages)
            \(probity) run -q --policy learned.yaml --policy builtin --report check -- check-env/bin/pip install -q --no-cache-dir \(packages)
            check-env/bin/python -c 'import six, idna, packaging'
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", script]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let log = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, log)
        for phase in ["learn", "check"] {
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(phase)/violations.json"))
            let document = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
            let list = try XCTUnwrap(document["violations"] as? [[String: Any]])
            if phase == "check" { XCTAssertEqual(list.count, 0, "\(list)\n\(log)") }
            // pip reached PyPI by name: DNS answers were seen and matched the registry hosts.
            XCTAssertFalse(list.contains { $0["rule"] as? String == "egress" }, "\(phase): \(list)")
            XCTAssertGreaterThan((document["events"] as? [String: Any])?["connect"] as? Int ?? 0, 0, "\(phase) downloaded from PyPI")
        }
    }
}
