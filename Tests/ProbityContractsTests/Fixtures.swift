import Foundation
@testable import ProbityEvents
import ProbityAttribution
import ProbityContracts
import ProbityProcess

/// Events and packages built in memory, for evaluator tests. The kernel's own events are
/// tested in KernelTests; here the contract logic is tested alone.
enum Make {
    static let variables = ContractVariables(
        homes: ["/home/dev", "/root"], temporaryDirectories: ["/tmp"], workspace: "/work/project",
        resolvers: ResolverConfiguration.parse("nameserver 10.255.255.53\nnameserver fe80::53%eth0\n").addressRanges)

    static func header(_ kind: EventKind, pid: Int32 = 100) -> EventHeader {
        EventHeader(bootTimeNanoseconds: 1_000, kind: kind, pid: pid, tid: pid, ppid: 1, uid: 0, gid: 0, cgroupID: 1)
    }

    static func open(_ path: String, _ flags: Int32 = 0, result: Int64 = 3, pid: Int32 = 100) -> Event {
        .open(FileOpen(
            header: header(.open, pid: pid), result: result, path: path, requestedPath: path,
            flags: OpenFlags(rawValue: flags), mode: 0, dirfd: -100, count: 1, syscall: .openat))
    }

    static func exec(_ path: String, argv: [String] = [], pid: Int32 = 100) -> Event {
        .exec(ProcessExec(
            header: header(.exec, pid: pid), result: 0, startTimeNanoseconds: 0, filename: path, executable: path,
            argv: argv, argc: UInt32(argv.count), cwd: "/", environment: []))
    }

    /// An exec of `filename` whose file the kernel ran is `executable` (a symlink's target, or a
    /// script's interpreter when `script`).
    static func exec(filename: String, executable: String, script: Bool, pid: Int32 = 100) -> Event {
        var h = header(.exec, pid: pid)
        if script { h.flags.insert(.script) }
        return .exec(ProcessExec(
            header: h, result: 0, startTimeNanoseconds: 0, filename: filename, executable: executable,
            argv: [filename], argc: 1, cwd: "/", environment: []))
    }

    static func connect(_ destination: SocketAddress, transport: TransportProtocol = .tcp, syscall: Syscall = .connect) -> Event {
        .connect(NetworkConnect(
            header: header(.connect), result: -115, destination: destination, socketType: .stream,
            transport: transport, fd: 3, syscall: syscall))
    }

    static func package(_ name: String, ecosystem: String = "npm", source: InstalledPackage.Source = .npm,
                        root: String? = nil, direct: Bool? = nil, version: String = "1.0.0") -> Attribution {
        Attribution(
            package: InstalledPackage(name: name, version: version, ecosystem: ecosystem, source: source, root: root, isDirect: direct),
            reason: .npmLifecycle, evidence: "npm_package_name=\(name)", executablePackage: nil)
    }

    static func contracts(_ yaml: String, file: String = "test.yaml") throws -> ContractSet {
        try ContractSet(documents: [PolicyLoader.parse(yaml, file: file)], variables: variables)
    }

    static var defaultPolicyPath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("policies/default.yaml").path
    }
}

extension Evaluator {
    mutating func check(_ event: Event, _ attribution: Attribution?, process: TrackedProcess? = nil) -> [Violation] {
        evaluate(event, process: process, attribution: attribution) { pid in
            [TrackedProcess(pid: pid, ppid: 1, executable: "/usr/bin/node", argv: ["node", "install.js"])]
        }
    }
}
