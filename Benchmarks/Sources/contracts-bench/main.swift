// The contract evaluator: evaluations per second, on one thread, over a fixed mix of in-memory
// events (80% opens, 10% execs, 10% connects; 1M by default) charged to ~500 packages, under the
// built-in contracts plus 200 generated per-package ones (so the evaluator sees a realistic number
// of contracts and rules). The issue's target is >= 1M evaluations/s on one core.
// As the machines are shared and noisy, the time is printed beside a baseline measured in the
// same run over the same events: the loop doing only what every event costs without contracts.
// The violations found are printed as a check that the work is done: non-zero, the same each pass.
// The events come from a seeded generator (the same every run) and are built before timing; their
// paths are interned, as warm in the cache as a just-decoded event's. The evaluator gets no process
// (`except: exe` is tested only on a hit) and a hostname table keyed by address text, as in
// `probity run`. An untimed first pass fills its contract cache and counts violations by rule.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbityAttribution
import ProbityContracts
import ProbityEvents

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// VmRSS from /proc/self/status, in MiB.
func residentMiB() -> Double {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
    return Double(line.split(separator: " ").dropFirst().first ?? "0").map { $0 / 1024 } ?? 0
}

/// SplitMix64: the same events in every run (no getrandom-seeded shuffles).
struct SplitMix64 {
    var state: UInt64 = 0x5eed_0f_c0ffee
    mutating func next(_ n: Int) -> Int {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return Int((z ^ (z >> 31)) % UInt64(n))
    }
    mutating func pick<T>(_ items: [T]) -> T { items[next(items.count)] }
}

let eventCount = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 1_000_000
let reps = Int(CommandLine.arguments.dropFirst(2).first ?? "") ?? 5
// A GitHub runner's layout.
let home = "/home/runner", workspace = "/home/runner/work/app/app", nodeModules = "/home/runner/work/app/app/node_modules"
let sitePackages = "/usr/lib/python3/dist-packages"
let variables = ContractVariables(homes: [home, "/root", "/home/*"], temporaryDirectories: ["/tmp", "/var/tmp", "/dev/shm"], workspace: workspace)

// MARK: contracts: built-in + 200 generated (150 npm, 50 pip), half selected by name, half by purl.

let npmWithContract = 150, pipWithContract = 50
func npmName(_ i: Int) -> String { "npm-pkg-\(i)" }
func pipName(_ i: Int) -> String { "py-pkg-\(i)" }
var yaml = "version: 1\ncontracts:\n"
for i in 0..<(npmWithContract + pipWithContract) {
    let (name, ecosystem) = i < npmWithContract ? (npmName(i), "npm") : (pipName(i), "pypi")
    yaml += """
      - name: generated-\(i)
        match: {\(i % 2 == 0 ? "name: [\(name)]" : "purl: [\"pkg:\(ecosystem)/\(name)@*\"]")}
        extends: default
        rules:
          - id: egress
            action: deny
            network:
              allow:
                - cidr: [127.0.0.0/8, "::1"]
                - port: 53
                - host: [registry.npmjs.org, pypi.org, files.pythonhosted.org, api.svc\(i).example.com, "*.cdn\(i).example.net"]
                  port: [80, 443]
                - cidr: [10.\(i).0.0/16, "fd00:\(String(i, radix: 16))::/32"]
          - id: files
            severity: medium
            files:
              write: {allow: ["{package}/**", "{workspace}/**", "{tmp}/**"]}
              create: {allow: ["{package}/**", "{workspace}/**", "{tmp}/**"]}
              read: {deny: ["{home}/.config/svc\(i)/**", "/etc/svc\(i)/*.key"]}
          - id: exec
            exec:
              allow: [/usr/bin/node, "/usr/bin/python3*", /usr/bin/dash, /usr/bin/git, /usr/bin/uname, /usr/bin/make, "{package}/bin/*", "{workspace}/node_modules/.bin/*"]

    """
}
let policyFile = NSTemporaryDirectory() + "probity-contracts-bench-\(getpid()).yaml"
try! yaml.write(toFile: policyFile, atomically: false, encoding: .utf8)
let rssStart = residentMiB()
var t0 = now()
let documents: [PolicyDocument]
do { documents = [try PolicyLoader.builtIn(), try PolicyLoader.load(contentsOf: policyFile)] } catch { fatalError("\(error)") }
let loadSeconds = now() - t0
t0 = now()
let contracts: ContractSet
do { contracts = try ContractSet(documents: documents, variables: variables) } catch { fatalError("\(error)") }
let compileSeconds = now() - t0
let rssContracts = residentMiB()
unlink(policyFile)

// MARK: 500 attributions: 250 npm and 150 pip packages (200 of them with a contract), 90 dpkg,
// 10 with no package; events are also charged to nil (unattributed) 10% of the time.

var attributions: [Attribution] = []
func attribution(_ name: String, _ ecosystem: String, _ source: InstalledPackage.Source, root: String?) -> Attribution {
    Attribution(package: InstalledPackage(name: name, version: "1.\(name.count).0", ecosystem: ecosystem, source: source, root: root),
                reason: .script, evidence: root ?? name, executablePackage: nil)
}
for i in 0..<250 { attributions.append(attribution(npmName(i), "npm", .npm, root: "\(nodeModules)/\(npmName(i))")) }
for i in npmWithContract..<(npmWithContract + 150) { attributions.append(attribution(pipName(i), "pypi", .pip, root: "\(sitePackages)/\(pipName(i))")) }
for i in 0..<90 { attributions.append(attribution("lib-deb-\(i)", "deb", .dpkg, root: nil)) }
for _ in 0..<10 { attributions.append(Attribution(package: nil, reason: .unattributed, evidence: "/usr/bin/env", executablePackage: nil)) }
let roots = attributions.compactMap { $0.package?.root }
/// The generated contract a package has, for destinations it is allowed.
func contractNumber(_ a: Attribution?) -> Int? {
    guard let name = a?.package?.name, let n = Int(name.split(separator: "-").last ?? ""), n < npmWithContract + pipWithContract,
          a?.package?.source != .dpkg else { return nil }
    return n
}

// MARK: 1M events, built before timing.

var rng = SplitMix64()
let libraries = (0..<150).map { "/usr/lib/x86_64-linux-gnu/lib\(["c", "ssl", "crypto", "z", "ffi", "stdc++", "uv"][$0 % 7])\($0).so.\($0 % 4)" }
    + ["/etc/ld.so.cache", "/etc/passwd", "/etc/hosts", "/etc/resolv.conf", "/dev/null", "/dev/urandom", "/proc/self/stat",
       "/usr/share/zoneinfo/UTC", "/usr/lib/locale/C.utf8/LC_CTYPE", "/usr/bin/node", "/usr/lib/python3.12/os.py"]
let packageFiles = ["package.json", "index.js", "lib/util.js", "dist/cjs/index.cjs", "__init__.py", "core/__pycache__/api.cpython-312.pyc"]
let credentials = ["\(home)/.ssh/id_ed25519", "\(home)/.aws/credentials", "\(home)/.npmrc", "/root/.docker/config.json", "/etc/shadow"]
let strayWrites = ["\(home)/.cache/node-gyp/22.0.0/include/node.h", "/usr/local/lib/node_modules/.staging/x", "\(home)/.bashrc"]
let execs: [(String, String)] = [  // (filename, executable), weighted by repetition
    ("/usr/bin/node", "/usr/bin/node"), ("/usr/bin/node", "/usr/bin/node"), ("/bin/sh", "/usr/bin/dash"), ("/bin/sh", "/usr/bin/dash"),
    ("/usr/bin/python3", "/usr/bin/python3.12"), ("/usr/bin/python3", "/usr/bin/python3.12"), ("/usr/bin/git", "/usr/bin/git"),
    ("/usr/bin/uname", "/usr/bin/uname"), ("node_modules/.bin/tsc", "/usr/bin/node"), ("/usr/bin/make", "/usr/bin/make")]
var hostnames: [String: [String]] = [:]
var destinations: [SocketAddress] = []  // resolvable or local, allowed to most
for k in 0..<20 {
    destinations.append(.ipv4(address: (104, 16, UInt8(k), 34), port: 443)); hostnames["104.16.\(k).34"] = ["registry.npmjs.org"]
    destinations.append(.ipv4(address: (151, 101, UInt8(k), 223), port: 443)); hostnames["151.101.\(k).223"] = ["files.pythonhosted.org"]
    let v6: [UInt8] = [0x26, 0x06, 0x47, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x68, 0x10, 0, UInt8(k)]
    destinations.append(.ipv6(address: v6, port: 443)); hostnames[SocketAddress.formatIPv6(v6)] = ["registry.npmjs.org"]
    destinations.append(.ipv4(address: (127, 0, 0, 1), port: UInt16(3000 + k)))
    destinations.append(.ipv4(address: (127, 0, 0, 53), port: 53))
}
destinations.append(.ipv6(address: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], port: 8080))
for i in 0..<200 { hostnames["198.51.100.\(i)"] = ["api.svc\(i).example.com"] }

func header(_ kind: EventKind, _ pid: Int32, _ t: Int) -> EventHeader {
    EventHeader(bootTimeNanoseconds: UInt64(t) &* 1000, kind: kind, pid: pid, tid: pid, ppid: 1, uid: 1001, gid: 1001, cgroupID: 1)
}
let readOnly: Int32 = 0o2000000, writeCreate: Int32 = 0o2001101  // O_RDONLY|O_CLOEXEC; O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC
/// One event and the attribution its process has.
struct Item { var event: Event; var attribution: Attribution? }
var events: [Item] = []
events.reserveCapacity(eventCount)
/// One String per distinct path (~20k), so an event's strings are as warm in the cache as those of
/// an event just decoded, not 1M cold copies.
var interned: [String: String] = [:]
@MainActor func intern(_ text: String) -> String {
    if let known = interned[text] { return known }
    interned[text] = text
    return text
}
for t in 0..<eventCount {
    let who = rng.next(attributions.count * 10 / 9)
    let attribution = who < attributions.count ? attributions[who] : nil
    let pid = Int32(1000 + who), own = attribution?.package?.root
    let roll = rng.next(1000)
    if roll < 800 {
        var (path, flags, result) = (rng.pick(libraries), readOnly, Int64(3))
        switch roll {
        case ..<300: break
        case ..<350: (path, result) = ("\(rng.pick(roots))/\(rng.pick(packageFiles))c", -2)  // ENOENT: does not count
        case ..<520: path = "\(own ?? rng.pick(roots))/\(rng.pick(packageFiles))"
        case ..<640: path = "\(rng.pick(roots))/\(rng.pick(packageFiles))"
        case ..<700: path = "\(workspace)/src/module\(rng.next(300)).ts"
        case ..<770: (path, flags) = (rng.next(2) == 0 ? "\(workspace)/build/obj\(rng.next(500)).o" : "/tmp/tmp\(rng.next(9999))/out.json", writeCreate)
        case ..<790: (path, flags) = ("\(own ?? workspace)/build/Release/addon.node", writeCreate)
        case ..<794: (path, flags) = (rng.pick(strayWrites), writeCreate)
        case ..<797: path = rng.pick(credentials)
        default: path = "/proc/\(Int(pid) + 1 + rng.next(50))/environ"
        }
        path = intern(path)
        let open = FileOpen(header: header(.open, pid, t), result: result, path: path, requestedPath: path,
                            flags: OpenFlags(rawValue: flags), mode: 0o644, dirfd: -100, count: 1, syscall: .openat)
        events.append(Item(event: .open(open), attribution: attribution))
    } else if roll < 900 {
        var (filename, executable) = rng.pick(execs)
        let r = rng.next(100)
        if r < 3 { (filename, executable) = ("/usr/bin/curl", "/usr/bin/curl") }
        if r == 3 { (filename, executable) = ("/tmp/.x\(rng.next(10))", "/tmp/.x\(rng.next(10))") }
        if r == 4, let own { (filename, executable) = ("\(own)/bin/cli.js", "/usr/bin/node") }
        (filename, executable) = (intern(filename), intern(executable))
        let exec = ProcessExec(header: header(.exec, pid, t), result: 0, startTimeNanoseconds: UInt64(t), filename: filename,
                               executable: executable, argv: [executable, "--version"], argc: 2, cwd: workspace, environment: [])
        events.append(Item(event: .exec(exec), attribution: attribution))
    } else {
        var destination = rng.pick(destinations)
        let r = rng.next(100)
        if r < 6 { destination = .ipv4(address: (10, UInt8(contractNumber(attribution) ?? 7), 1, 5), port: 5432) }
        if r >= 6 && r < 10 { destination = .ipv4(address: (198, 51, 100, UInt8(contractNumber(attribution) ?? 199)), port: 443) }
        if r == 10 { destination = .ipv4(address: (203, 0, 113, UInt8(rng.next(256))), port: 443) }  // nobody's
        let udp = destination.port == 53
        let connect = NetworkConnect(header: header(.connect, pid, t), result: udp ? 0 : -115, destination: destination,
                                     socketType: udp ? .datagram : .stream, transport: udp ? .udp : .tcp, fd: 5,
                                     syscall: udp ? .sendto : .connect)
        events.append(Item(event: .connect(connect), attribution: attribution))
    }
}
let names = hostnames
var evaluator = Evaluator(contracts: contracts, hostnames: { [names] in names[$0.address] ?? [] })  // as Run.swift: DNS table by address text

// MARK: timing: baseline and evaluator passes interleaved, medians.

/// What every event costs anyway: the switch on its kind (binding the payload, as the evaluator's
/// switch does), one pass over its path's UTF-8 bytes (exec: the filename; connect: the port), a
/// dictionary lookup by attribution identity (the evaluator's contract cache is one).
let attributionIDs = Dictionary(uniqueKeysWithValues: attributions.enumerated().map { (ObjectIdentifier($1), $0) })
func baselinePass(_ events: [Item], _ attributionIDs: [ObjectIdentifier: Int]) -> Int {
    func slashes(_ s: String) -> Int { var s = s; return s.withUTF8 { $0.reduce(0) { $0 &+ ($1 == 47 ? 1 : 0) } } }
    return events.withUnsafeBufferPointer { events in
        var sum = 0
        for i in events.indices {
            if let attribution = events[i].attribution { sum &+= attributionIDs[ObjectIdentifier(attribution)] ?? 0 }
            switch events[i].event {
            case .open(let open): sum &+= slashes(open.path)
            case .exec(let exec): sum &+= slashes(exec.filename)
            case .connect(let connect): sum &+= Int(connect.destination.port ?? 0)
            default: break
            }
        }
        return sum
    }
}
/// The violations found: a process is not passed (the `except: exe` tests run only on a hit),
/// nor a lineage.
func evaluatorPass(_ events: [Item], _ evaluator: inout Evaluator) -> Int {
    events.withUnsafeBufferPointer { events in
        var violations = 0
        for i in events.indices {
            violations += evaluator.evaluate(events[i].event, process: nil, attribution: events[i].attribution, lineage: { _ in [] }).count
        }
        return violations
    }
}
// An untimed first pass (it also fills the evaluator's contract cache): which rules the mix breaks.
var byRule: [String: Int] = [:]
for item in events {
    for v in evaluator.evaluate(item.event, process: nil, attribution: item.attribution, lineage: { _ in [] }) { byRule[v.rule, default: 0] += 1 }
}
var baselineTimes: [Double] = [], evaluatorTimes: [Double] = [], violationCounts: [Int] = [], checksums: [Int] = []
for _ in 0..<reps {
    t0 = now(); checksums.append(baselinePass(events, attributionIDs)); baselineTimes.append(now() - t0)
    t0 = now(); violationCounts.append(evaluatorPass(events, &evaluator)); evaluatorTimes.append(now() - t0)
}
func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
let evaluatorMedian = median(evaluatorTimes), baselineMedian = median(baselineTimes)
let n = Double(eventCount)

print("contract evaluator: \(eventCount) events (80% open, 10% exec, 10% connect), \(attributions.count) attributions + nil, one thread")
print(String(format: "  load + compile %6.3f s          (YAML %.3f s, compile %.3f s; %d contracts, %d rules)",
             loadSeconds + compileSeconds, loadSeconds, compileSeconds, contracts.contractCount, contracts.ruleCount))
print(String(format: "  resident       %6.1f MiB        after building the contract set (%.1f MiB before loading)", rssContracts, rssStart))
print(String(format: "  evaluations    %6.2f M/s        %.0f ns/evaluation, median of %d (min %.2f M/s, max %.2f M/s)",
             n / evaluatorMedian / 1e6, evaluatorMedian / n * 1e9, reps, n / evaluatorTimes.max()! / 1e6, n / evaluatorTimes.min()! / 1e6))
print(String(format: "  baseline       %6.2f M/s        %.0f ns/event: switch on kind binding the payload, one pass over the path's",
             n / baselineMedian / 1e6, baselineMedian / n * 1e9))
print("                                   UTF-8 bytes, a dictionary lookup by attribution identity; no contracts")
print(String(format: "  ratio          %6.2fx           evaluator / baseline time", evaluatorMedian / baselineMedian))
print("  violations     \(violationCounts[0]) per pass (\(Set(violationCounts).count == 1 ? "the same in every pass" : "DIFFERS: \(violationCounts)"))")
print("                 by rule: " + byRule.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
print("  target: >= 1,000,000 evaluations/s on one core")
precondition(violationCounts[0] > 0 && Set(violationCounts).count == 1 && Set(checksums).count == 1, "unstable or no violations")
