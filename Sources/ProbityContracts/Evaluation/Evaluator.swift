#if canImport(Glibc)
import Glibc
#endif
import ProbityAttribution
import ProbityEvents
import ProbityProcess

/// Checks events against a ``ContractSet``: each event is charged to the contract of the package
/// its process is attributed to, and tested against that contract's rules for its kind.
///
/// Not thread-safe: one evaluator per pipeline thread. The contract for an attribution is cached,
/// so an event costs a dictionary lookup plus the matchers of the rules that look at its kind.
public struct Evaluator {
    public private(set) var contracts: ContractSet
    public let baseline: Baseline?
    /// Names an address was seen to resolve from (DNS correlation); empty when unknown.
    public var hostnames: @Sendable (SocketAddress) -> [String]
    private var contractCache: [ObjectIdentifier: (Attribution, Int?)] = [:]
    /// Reused for splitting paths, so that judging an event allocates nothing when nothing is found.
    private var segmentScratch: [Range<Int>] = Array(repeating: 0..<0, count: 64)

    /// The access kinds of an open, by bit (read 1, write 2, create 4), prebuilt.
    private static let accessSets: [[FileAccess]] = (0..<8).map { bits in
        [FileAccess.read, .write, .create].enumerated().compactMap { bits & (1 << $0.offset) != 0 ? $0.element : nil }
    }
    private var clock = WallClock()

    /// A Python start-up hook written during the run, judged later (``settlePythonStartupWrites``):
    /// an installer writes the files of a distribution first and its `RECORD` after them.
    struct PendingStartupWrite {
        var violation: Violation
        var path: String
        /// The writer's package is an installer (``BuiltinLocations/pythonInstallers``).
        var byInstaller: Bool
        var time: UInt64
    }
    private var pendingStartupWrites: [PendingStartupWrite] = []

    /// How long a start-up hook write waits for its `RECORD` when nothing ends the run (the
    /// daemon): judged at the first process exit after this.
    public static let startupWriteGraceNanoseconds: UInt64 = 60_000_000_000

    public init(
        contracts: ContractSet, baseline: Baseline? = nil,
        hostnames: @escaping @Sendable (SocketAddress) -> [String] = { _ in [] }
    ) {
        self.contracts = contracts
        self.baseline = baseline
        self.hostnames = hostnames
    }

    /// Swaps in a new contract set (already loaded and checked: reload is all or nothing).
    public mutating func replace(_ contracts: ContractSet) {
        self.contracts = contracts
        contractCache.removeAll()
    }

    /// The index in ``contracts`` of the contract governing `attribution`'s package.
    public mutating func contractIndex(for attribution: Attribution?) -> Int? { contractIndex(attribution) }

    /// The contract index for an attribution, cached per attribution instance.
    mutating func contractIndex(_ attribution: Attribution?) -> Int? {
        guard let attribution else { return contracts.contractIndex(for: nil, baseline: baseline) }
        let id = ObjectIdentifier(attribution)
        if let cached = contractCache[id], cached.0 === attribution { return cached.1 }
        if contractCache.count > 65_536 { contractCache.removeAll(keepingCapacity: true) }
        let index = contracts.contractIndex(for: attribution.package, workspace: attribution.isWorkspace, baseline: baseline)
        contractCache[id] = (attribution, index)
        return index
    }

    /// The violations `event` commits, usually none. `lineage` gives the process chain and is only
    /// called when there is a violation to report.
    ///
    /// An exec is judged by the contract of the code that asked for it (`caller`, the process's
    /// attribution before the exec) when there is one: the package that starts a program is the one
    /// an `exec` rule restricts, whatever the new program turns out to be.
    public mutating func evaluate(
        _ event: Event, process: TrackedProcess?, attribution: Attribution?, caller: Attribution? = nil,
        lineage: (Int32) -> [TrackedProcess]
    ) -> [Violation] {
        switch event {
        case .open(let open):
            guard Self.counts(open.result) else { return [] }
            guard let index = contractIndex(attribution) else { return [] }
            let rules = contracts.contracts[index].openRules
            if rules.isEmpty { return [] }
            return evaluateOpen(open, rules: rules, process: process, attribution: attribution, lineage: lineage)
        case .exec(let exec):
            // As for opens: an exec of a file that is not there (execvp trying each PATH entry,
            // `node_modules/.bin` in /tmp among them) ran nothing.
            guard exec.succeeded || Self.counts(exec.result) else { return [] }
            let judged = caller ?? attribution
            guard let index = contractIndex(judged) else { return [] }
            let rules = contracts.contracts[index].execRules
            if rules.isEmpty { return [] }
            return evaluateExec(exec, rules: rules, process: process, attribution: judged, lineage: lineage)
        case .connect(let connect):
            guard let index = contractIndex(attribution) else { return [] }
            let rules = contracts.contracts[index].connectRules
            if rules.isEmpty { return [] }
            return evaluateConnect(connect, rules: rules, process: process, attribution: attribution, lineage: lineage)
        case .unlink(let removal):
            guard Self.counts(removal.result) else { return [] }
            guard let index = contractIndex(attribution) else { return [] }
            let rules = contracts.contracts[index].openRules
            if rules.isEmpty { return [] }
            return evaluateRemoval(removal, rules: rules, process: process, attribution: attribution, lineage: lineage)
        case .link(let link):
            // A name placed by rename, link or symlink is judged as a file written there: moving
            // a file into a persistence location is a write to it, whatever wrote its bytes.
            guard Self.counts(link.result) else { return [] }
            return placed(at: Self.resolvingDirectory(of: link.destination), operation: link.operation.rawValue, header: link.header,
                          process: process, attribution: attribution, lineage: lineage)
        case .memory(let access):
            guard Self.counts(access.result), access.targetPID != access.header.pid else { return [] }
            guard let index = contractIndex(attribution) else { return [] }
            return evaluateMemoryAccess(
                access, rules: contracts.contracts[index].openRules, process: process, attribution: attribution, lineage: lineage)
        case .abi(let call):
            guard let index = contractIndex(attribution) else { return [] }
            var out: [Violation] = []
            for rule in contracts.contracts[index].processRules where rule.unmonitoredSyscalls && !excepted(rule, process) {
                var evidence = Evidence(operation: "syscall")
                evidence.path = process?.executable
                evidence.result = Int64(call.number)
                out.append(violation(
                    rule, "system call \(call.number) through the \(call.abiName) ABI, which no probe sees, breaks \(rule.contract)/\(rule.rule.id)",
                    header: call.header, evidence: evidence, attribution: attribution, lineage: lineage))
            }
            return out
        case .exit(let exit):
            guard !pendingStartupWrites.isEmpty, exit.header.bootTimeNanoseconds > Self.startupWriteGraceNanoseconds else { return [] }
            return settlePythonStartupWrites(writtenBefore: exit.header.bootTimeNanoseconds - Self.startupWriteGraceNanoseconds)
        case .fork, .ioUring:
            return []
        }
    }

    /// process_vm_readv / writev or a ptrace attach to another process: a process-memory read.
    private mutating func evaluateMemoryAccess(
        _ access: ProcessMemoryAccess, rules: [CompiledRule], process: TrackedProcess?, attribution: Attribution?,
        lineage: (Int32) -> [TrackedProcess]
    ) -> [Violation] {
        var out: [Violation] = []
        for rule in rules where rule.processMemory && !excepted(rule, process) {
            var evidence = Evidence(operation: access.syscall.description)
            evidence.path = access.syscall == .ptrace ? "/proc/\(access.targetPID)" : "/proc/\(access.targetPID)/mem"
            evidence.result = access.result
            let what = access.syscall == .ptrace ? "ptrace attach to process \(access.targetPID)" : "\(access.syscall) of process \(access.targetPID)'s memory"
            out.append(violation(rule, "\(what) breaks \(rule.contract)/\(rule.rule.id)", header: access.header, evidence: evidence,
                                 attribution: attribution, lineage: lineage))
        }
        return out
    }

    /// `path` with its directory resolved through symlinks as it is now (realpath(3)): the kernel
    /// reports a new name (rename, link, symlink) or a removed one as passed, since no object is
    /// open to walk; the directory it landed in still exists. Unchanged when it cannot be resolved.
    static func resolvingDirectory(of path: String) -> String {
        guard path.hasPrefix("/"), let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return path }
        let name = path[path.index(after: slash)...]
        guard let resolved = realpath(String(path[..<slash]), nil) else { return path }
        defer { free(resolved) }
        let directory = String(cString: resolved)
        return directory == "/" ? "/" + name : directory + "/" + name
    }

    /// Judges a file placed at `path` by `process` (a write or create; later also a rename, link
    /// or symlink destination, or an io_uring open, reported as `operation`): the rules an open
    /// for writing would break, Python start-up hooks included (those are held until their
    /// `RECORD` could have been written). `path` is normalised lexically first.
    public mutating func placed(
        at path: String, operation: String, header: EventHeader, process: TrackedProcess?, attribution: Attribution?,
        lineage: (Int32) -> [TrackedProcess]
    ) -> [Violation] {
        guard let index = contractIndex(attribution) else { return [] }
        let rules = contracts.contracts[index].openRules
        if rules.isEmpty { return [] }
        let normalised = PathText.normalize(path)
        let placement = FileOpen(
            header: header, result: 0, path: normalised, requestedPath: path,
            flags: OpenFlags(rawValue: Int32(O_WRONLY | O_CREAT)), mode: 0, dirfd: -100, count: 1, syscall: .openat)
        return evaluateOpen(placement, rules: rules, process: process, attribution: attribution, lineage: lineage, operation: operation)
    }

    /// The Python start-up hooks held so far (``placed(at:operation:header:process:attribution:lineage:)``).
    public var pendingStartupWriteCount: Int { pendingStartupWrites.count }

    /// Judges the Python start-up hooks written before `writtenBefore` (boot-time ns; nil: all of
    /// them, at the end of a run): a write is dropped only when the writer's package is an
    /// installer and either `isListed` says a `RECORD` of its site directory lists the path now,
    /// or that directory is gone (pip's isolated build environment, removed by pip itself: a
    /// hook there can no longer run).
    public mutating func settlePythonStartupWrites(
        writtenBefore: UInt64? = nil, isListed: (String) -> Bool = Evaluator.listedInRecord,
        exists: (String) -> Bool = { access($0, F_OK) == 0 }
    ) -> [Violation] {
        var out: [Violation] = []
        var kept: [PendingStartupWrite] = []
        for pending in pendingStartupWrites {
            if let limit = writtenBefore, pending.time >= limit {
                kept.append(pending)
                continue
            }
            if pending.byInstaller {
                if let site = Self.siteDirectory(of: pending.path), !exists(site) { continue }
                if isListed(pending.path) { continue }
            }
            out.append(pending.violation)
        }
        pendingStartupWrites = kept
        return out
    }

    /// Whether a `RECORD` (or `installed-files.txt`) of the `site-packages` / `dist-packages`
    /// directory holding `path` lists it, read now.
    public static func listedInRecord(_ path: String) -> Bool {
        guard let site = siteDirectory(of: path) else { return false }
        var index = PathIndex()
        _ = try? PythonDistributions.load(into: &index, sitePackages: site)
        return index.owners(of: PathText.normalize(path)).contains { $0.match == .file }
    }

    /// The `site-packages` / `dist-packages` directory `path` lies in, if any.
    static func siteDirectory(of path: String) -> String? {
        var directory = Substring(PathText.normalize(path))
        while let slash = directory.lastIndex(of: "/"), slash != directory.startIndex {
            directory = directory[..<slash]
            let name = directory[directory.index(after: directory.lastIndex(of: "/") ?? directory.startIndex)...]
            if name == "site-packages" || name == "dist-packages" { return String(directory) }
        }
        return nil
    }

    /// Opens and execs that succeeded, or were refused by permissions, count; a file that is not
    /// there was not read or run.
    static func counts(_ result: Int64) -> Bool {
        result >= 0 || result == -Int64(EACCES) || result == -Int64(EPERM)
    }

    private func excepted(_ rule: CompiledRule, _ process: TrackedProcess?) -> Bool {
        guard !rule.except.isEmpty, let process else { return false }
        var exe = process.executable
        // A secret read by an excepted program is still the program's only if nothing else runs
        // in it (see `runsItsOwnCode`).
        if case .secrets = rule.rule.body, !Self.runsItsOwnCode(process) { return false }
        return exe.withUTF8 { rule.except.firstMatch(PathSegments($0), packageRoot: nil) != nil }
    }

    /// Whether `process` runs only its executable's code, so that naming the executable names
    /// what reads: not when the dynamic loader adds code to it (`LD_PRELOAD`, `LD_AUDIT`) or
    /// takes its libraries from a directory the build can write (an `LD_LIBRARY_PATH` entry
    /// outside ``BuiltinLocations/systemLibraryDirectories``: relative, empty — the working
    /// directory —, temporary, home or workspace), when the environment the kernel copied was cut
    /// so these are unknown, or when the program has no link on disk.
    public static func runsItsOwnCode(_ process: TrackedProcess) -> Bool {
        if process.executableUnlinked || process.environmentIncomplete { return false }
        if process.executable.hasPrefix("/memfd:") || process.executable.hasSuffix(" (deleted)") { return false }
        for entry in process.loaderVariables {
            guard let eq = entry.firstIndex(of: "=") else { continue }
            let name = entry[..<eq]
            let value = entry[entry.index(after: eq)...]
            if name == "LD_LIBRARY_PATH" {
                // glibc separates entries with `:` or `;`; an empty entry is the working directory.
                for directory in value.split(omittingEmptySubsequences: false, whereSeparator: { $0 == ":" || $0 == ";" }) {
                    if !isSystemLibraryDirectory(directory) { return false }
                }
            } else if !value.allSatisfy({ $0 == " " || $0 == ":" }) {
                return false  // LD_PRELOAD, LD_AUDIT with anything in them
            }
        }
        return true
    }

    static func isSystemLibraryDirectory(_ directory: Substring) -> Bool {
        guard directory.hasPrefix("/"), !directory.contains("$") else { return false }
        let normalised = PathText.normalize(String(directory))
        return BuiltinLocations.systemLibraryDirectories.contains { normalised == $0 || normalised.hasPrefix($0 + "/") }
    }

    /// Whether `process` is one of `rule`'s credential readers for the credential file at
    /// `credential` (its path, or for a file recognised by its object the path it was found at).
    private static func isReader(_ rule: CompiledRule, _ process: TrackedProcess?, credential: PathSegments) -> Bool {
        guard !rule.readers.isEmpty, let process, !process.executable.isEmpty, runsItsOwnCode(process) else { return false }
        var exe = process.executable
        return exe.withUTF8 { bytes in
            let program = PathSegments(bytes)
            return rule.readers.contains { readers in
                readers.executables.firstMatch(program, packageRoot: nil) != nil
                    && (readers.files.isEmpty || readers.files.firstMatch(credential, packageRoot: nil) != nil)
            }
        }
    }

    private mutating func evaluateOpen(
        _ open: FileOpen, rules: [CompiledRule], process: TrackedProcess?, attribution: Attribution?,
        lineage: (Int32) -> [TrackedProcess], operation: String = "open"
    ) -> [Violation] {
        let bits = (open.flags.reads ? 1 : 0) | (open.flags.writes || open.flags.truncates || open.flags.appends ? 2 : 0)
            | (open.flags.creates ? 4 : 0)
        let accesses = Self.accessSets[bits]
        let root = attribution?.package?.root
        var found: [(CompiledRule, String)] = []
        var heldStartupWrites: [(CompiledRule, String)] = []
        var path = open.path
        var scratch = segmentScratch
        segmentScratch = []
        defer { segmentScratch = scratch }
        path.withUTF8 { bytes in
            let segments = PathSegments(bytes, reusing: &scratch)
            for rule in rules {
                if !rule.exceptPaths.isEmpty, rule.exceptPaths.firstMatch(segments, packageRoot: root) != nil { continue }
                switch rule.rule.body {
                case .files:
                    for access in accesses {
                        if let deny = rule.fileDenyByAccess[access.index], let hit = deny.firstMatch(segments, packageRoot: root) {
                            found.append((rule, "\(access.rawValue) of \(open.path) matches \(hit) denied by"))
                        } else if let allow = rule.fileAllowByAccess[access.index], allow.firstMatch(segments, packageRoot: root) == nil {
                            found.append((rule, "\(access.rawValue) of \(open.path) is outside what is allowed by"))
                        }
                    }
                case .secrets:
                    guard open.flags.reads else { continue }
                    if let hit = rule.credentials.firstMatch(segments, packageRoot: nil) {
                        if Self.isReader(rule, process, credential: segments) { continue }
                        found.append((rule, "read of credential file \(open.path)\(Self.via(hit, open.path)) breaks"))
                    } else if !rule.credentialObjects.isEmpty, let object = open.object, var original = rule.credentialObjects[object] {
                        // The same file under another name: a hard link, a bind mount.
                        if original.withUTF8({ Self.isReader(rule, process, credential: PathSegments($0)) }) { continue }
                        found.append((rule, "read of credential file \(original) through \(open.path) (the same device and inode) breaks"))
                    } else if rule.processMemory, let owner = Self.procMemoryOwner(segments), owner != open.header.pid {
                        found.append((rule, "read of process \(owner)'s \(open.path) breaks"))
                    }
                case .process:
                    guard accesses.contains(.write) || accesses.contains(.create) else { continue }
                    if let hit = rule.persistence.firstMatch(segments, packageRoot: nil) {
                        found.append((rule, "write to persistence location \(open.path)\(Self.via(hit, open.path)) breaks"))
                    } else if !rule.pythonStartup.isEmpty, let hit = rule.pythonStartup.firstMatch(segments, packageRoot: nil) {
                        heldStartupWrites.append((rule, "write of Python start-up hook \(open.path) (\(hit)), which no installer's RECORD lists, breaks"))
                    }
                default:
                    continue
                }
            }
        }
        if found.isEmpty && heldStartupWrites.isEmpty { return [] }
        var out: [Violation] = []
        let held = found.count
        for (n, (rule, message)) in (found + heldStartupWrites).enumerated() where !excepted(rule, process) {
            var evidence = Evidence(operation: operation)
            evidence.path = open.path
            if open.requestedPath != open.path { evidence.requestedPath = open.requestedPath }
            evidence.object = open.object.map { "\($0.device >> 20):\($0.device & 0xfffff):\($0.inode)" }
            evidence.access = accesses.map(\.rawValue)
            evidence.result = open.result
            let found = violation(rule, "\(message) \(rule.contract)/\(rule.rule.id)", header: open.header, evidence: evidence,
                                  attribution: attribution, lineage: lineage, count: Int(open.count))
            if n < held {
                out.append(found)
            } else {
                pendingStartupWrites.append(PendingStartupWrite(
                    violation: found, path: open.path, byInstaller: Self.isInstaller(attribution),
                    time: open.header.bootTimeNanoseconds))
            }
        }
        return out
    }

    /// Whether the package responsible is a Python installer (pip, uv, ...), by name.
    static func isInstaller(_ attribution: Attribution?) -> Bool {
        guard let name = attribution?.package?.name.lowercased() else { return false }
        return BuiltinLocations.pythonInstallers.contains(String(name.map { $0 == "_" || $0 == "." ? "-" : $0 }))
    }

    /// ` (pattern)` when the pattern is not the path itself.
    static func via(_ pattern: PathGlob, _ path: String) -> String {
        pattern.pattern == path ? "" : " (\(pattern.pattern))"
    }

    private mutating func evaluateRemoval(
        _ removal: FileRemoval, rules: [CompiledRule], process: TrackedProcess?, attribution: Attribution?,
        lineage: (Int32) -> [TrackedProcess]
    ) -> [Violation] {
        var removal = removal
        removal.path = Self.resolvingDirectory(of: removal.path)
        let root = attribution?.package?.root
        var found: [(CompiledRule, String)] = []
        var path = removal.path
        path.withUTF8 { bytes in
            let segments = PathSegments(bytes)
            for rule in rules {
                guard case .files = rule.rule.body else { continue }
                if !rule.exceptPaths.isEmpty, rule.exceptPaths.firstMatch(segments, packageRoot: root) != nil { continue }
                if let deny = rule.fileDeny[.delete], let hit = deny.firstMatch(segments, packageRoot: root) {
                    found.append((rule, "delete of \(removal.path) matches \(hit) denied by"))
                } else if let allow = rule.fileAllow[.delete], allow.firstMatch(segments, packageRoot: root) == nil {
                    found.append((rule, "delete of \(removal.path) is outside what is allowed by"))
                }
            }
        }
        return found.filter { !excepted($0.0, process) }.map { rule, message in
            var evidence = Evidence(operation: removal.syscall.description)
            evidence.path = removal.path
            if removal.requestedPath != removal.path { evidence.requestedPath = removal.requestedPath }
            evidence.access = ["delete"]
            evidence.result = removal.result
            return violation(rule, "\(message) \(rule.contract)/\(rule.rule.id)", header: removal.header, evidence: evidence,
                             attribution: attribution, lineage: lineage)
        }
    }

    /// The pid in `/proc/PID/{environ,mem,maps,...}` or `/proc/PID/task/TID/...`.
    static func procMemoryOwner(_ path: PathSegments) -> Int32? {
        let r = path.ranges
        guard r.count == 3 || r.count == 5, let first = r.first else { return nil }
        let b = path.bytes
        func text(_ range: Range<Int>) -> String { String(decoding: UnsafeBufferPointer(rebasing: b[range]), as: UTF8.self) }
        guard text(first) == "proc", let pid = Int32(text(r[r.startIndex + 1])), let last = r.last,
              BuiltinLocations.processMemoryFiles.contains(text(last)) else { return nil }
        if r.count == 5 && text(r[r.startIndex + 2]) != "task" { return nil }
        return pid
    }

    private mutating func evaluateExec(
        _ exec: ProcessExec, rules: [CompiledRule], process: TrackedProcess?, attribution: Attribution?,
        lineage: (Int32) -> [TrackedProcess]
    ) -> [Violation] {
        // What ran is the file the kernel executed (symlinks resolved: a venv's bin/python3 under
        // /tmp is the interpreter it points to), as the kernel judges it in enforce mode. The name
        // asked for is judged too only when it was a script (the kernel's flag: it ran the
        // script's interpreter, and the script's code is the file asked for; or, for records
        // without the flag, the name standing in argv after the interpreter) or the exec failed.
        var candidates: [String] = []
        let requested = exec.filename.hasPrefix("/") ? PathText.normalize(exec.filename)
            : (exec.filename.isEmpty || exec.cwd.isEmpty ? "" : PathText.join(directory: exec.cwd, relative: exec.filename))
        let judgeName = exec.isScript || exec.executable.isEmpty || Self.mayRunScript(exec)
        if judgeName && !requested.isEmpty { candidates.append(requested) }
        if !exec.executable.isEmpty && !candidates.contains(exec.executable) { candidates.append(exec.executable) }
        let shown = candidates.first ?? exec.filename
        let root = attribution?.package?.root
        var out: [Violation] = []
        var hits: [(CompiledRule, String)] = []
        for rule in rules {
            var denied: PathGlob?
            var allowed = rule.execAllow == nil
            var excepted = false
            for var candidate in candidates {
                candidate.withUTF8 { bytes in
                    let segments = PathSegments(bytes)
                    if !rule.exceptPaths.isEmpty, rule.exceptPaths.firstMatch(segments, packageRoot: root) != nil { allowed = true; excepted = true }
                    if denied == nil { denied = rule.execDeny.firstMatch(segments, packageRoot: root) }
                    if !allowed, let allow = rule.execAllow, allow.firstMatch(segments, packageRoot: root) != nil { allowed = true }
                }
            }
            if excepted { continue }
            if rule.execMemoryBacked && exec.succeeded && Self.isMemoryBacked(exec) {
                hits.append((rule, "exec of \(exec.executable.isEmpty ? shown : exec.executable) (as \(shown)), a program with no link on disk (memfd or deleted file), breaks"))
                continue
            }
            if let denied {
                hits.append((rule, "exec of \(shown) matches \(denied) denied by"))
            } else if !allowed {
                hits.append((rule, "exec of \(shown) is not among the executables allowed by"))
            }
        }
        for (rule, message) in hits where !excepted(rule, process) {
            var evidence = Evidence(operation: "exec")
            evidence.path = shown
            evidence.argv = Array(exec.argv.prefix(16))
            evidence.result = exec.result
            out.append(violation(rule, "\(message) \(rule.contract)/\(rule.rule.id)", header: exec.header, evidence: evidence,
                                 attribution: attribution, lineage: lineage))
        }
        return out
    }

    /// Whether the kernel may have run an interpreter for a `#!` script (or a binfmt_misc
    /// handler) rather than the file asked for. Such a handler puts the name the exec was asked
    /// for (`bprm->filename`, exactly as passed) into the new argv after the interpreter (and its
    /// `#!` argument; after each interpreter of a chain), so a script run always has it among
    /// `argv[1...]`. When argv was cut or is missing it cannot be told: assumed (fail closed).
    /// A plain exec of a symlink whose arguments happen to repeat its own name is judged by
    /// both names, as before. The kernel's own flag (``ProcessExec/isScript``) says it exactly;
    /// this is for records without it (events built in memory, older records).
    static func mayRunScript(_ exec: ProcessExec) -> Bool {
        if exec.filename.isEmpty { return false }
        if exec.header.flags.contains(.argvTruncated) || exec.argv.count < Int(exec.argc) { return true }
        return exec.argv.dropFirst().contains(exec.filename)
    }

    /// The kernel's flag, or the name the kernel gives a memfd.
    static func isMemoryBacked(_ exec: ProcessExec) -> Bool {
        exec.isMemoryBacked || exec.executable.hasPrefix("/memfd:")
    }

    private mutating func evaluateConnect(
        _ connect: NetworkConnect, rules: [CompiledRule], process: TrackedProcess?, attribution: Attribution?,
        lineage: (Int32) -> [TrackedProcess]
    ) -> [Violation] {
        let destination = connect.destination
        var names: [String]?
        var out: [Violation] = []
        for rule in rules where !excepted(rule, process) {
            func matches(_ entry: NetworkEntryMatcher) -> Bool {
                Self.matches(entry, destination: destination, transport: connect.transport) {
                    if names == nil { names = hostnames(destination) }
                    return names ?? []
                }
            }
            if rule.exceptDestinations.contains(where: matches) { continue }
            if case .unix(var path) = destination, !rule.exceptPaths.isEmpty,
               path.withUTF8({ rule.exceptPaths.firstMatch(PathSegments($0), packageRoot: nil) != nil }) { continue }
            let message: String
            if let hit = rule.networkDeny.first(where: matches) {
                message = "connection to \(destination) matches the deny entry at \(hit.entry.location) of"
            } else if let allow = rule.networkAllow, !allow.contains(where: matches) {
                // Unix sockets are governed only by `unix` entries.
                if destination.family == .unix && !allow.contains(where: { !$0.unixPaths.isEmpty }) { continue }
                message = allow.isEmpty
                    ? "connection to \(destination) breaks `network: none` of"
                    : "connection to \(destination) is not allowed by"
            } else {
                continue
            }
            var evidence = Evidence(operation: connect.syscall.description)
            evidence.address = destination.address
            evidence.port = destination.port
            evidence.protocol = connect.transport.description
            evidence.result = connect.result
            let resolved = names ?? hostnames(destination)
            if !resolved.isEmpty { evidence.hostnames = resolved }
            let shownName = resolved.first.map { " (\($0))" } ?? ""
            out.append(violation(rule, "\(message) \(rule.contract)/\(rule.rule.id)\(shownName)", header: connect.header,
                                 evidence: evidence, attribution: attribution, lineage: lineage))
        }
        return out
    }

    static func matches(
        _ matcher: NetworkEntryMatcher, destination: SocketAddress, transport: TransportProtocol, names: () -> [String]
    ) -> Bool {
        let entry = matcher.entry
        if !entry.protocols.isEmpty && !entry.protocols.contains(transport.description) { return false }
        if case .unix(var path) = destination {
            guard !matcher.restrictsAddress, entry.ports.isEmpty else { return false }
            if matcher.unixPaths.isEmpty { return !entry.protocols.isEmpty }
            return path.withUTF8 { matcher.unixPaths.firstMatch(PathSegments($0), packageRoot: nil) != nil }
        }
        if !matcher.unixPaths.isEmpty { return false }
        if !entry.ports.isEmpty {
            guard let port = destination.port, entry.ports.contains(where: { $0.contains(port) }) else { return false }
        }
        if matcher.restrictsAddress {
            let inNetwork = matcher.networks.contains { $0.contains(destination) }
            if !inNetwork {
                guard !entry.hosts.isEmpty else { return false }
                let resolved = names()
                guard entry.hosts.contains(where: { pattern in resolved.contains { pattern.matches($0) } }) else { return false }
            }
        }
        return true
    }

    /// Violations for processes still running when the monitored command is over: `outlive`,
    /// or `daemonize` when `daemonized` says it also detached (setsid, reparented).
    public mutating func finish(
        survivors: [TrackedProcess], attribution: (Int32) -> Attribution?, lineage: (Int32) -> [TrackedProcess],
        daemonized: (TrackedProcess) -> Bool
    ) -> [Violation] {
        var out: [Violation] = []
        for process in survivors {
            let charged = attribution(process.pid)
            guard let index = contractIndex(charged) else { continue }
            let orphaned = daemonized(process)
            var exe = process.executable
            for rule in contracts.contracts[index].processRules where !excepted(rule, process) {
                if !rule.exceptPaths.isEmpty,
                   exe.withUTF8({ rule.exceptPaths.firstMatch(PathSegments($0), packageRoot: charged?.package?.root) != nil }) { continue }
                let kind: String
                if rule.daemonize && orphaned {
                    kind = "started its own session, left its parent and kept running after the command ended (daemonized)"
                } else if rule.outlive {
                    kind = "was still running after the command ended"
                } else {
                    continue
                }
                var evidence = Evidence(operation: "process")
                evidence.path = process.executable
                evidence.argv = Array(process.argv.prefix(16))
                let header = EventHeader(
                    bootTimeNanoseconds: WallClock.bootTimeNow(), kind: .exit, pid: process.pid, tid: process.pid,
                    ppid: process.ppid, uid: process.uid, gid: 0, cgroupID: 0)
                out.append(violation(
                    rule, "process \(process.pid) (\(process.executable)) \(kind): breaks \(rule.contract)/\(rule.rule.id)",
                    header: header, evidence: evidence, attribution: charged, lineage: lineage))
            }
        }
        return out
    }

    private mutating func violation(
        _ rule: CompiledRule, _ message: String, header: EventHeader, evidence: Evidence, attribution: Attribution?,
        lineage: (Int32) -> [TrackedProcess], count: Int = 1
    ) -> Violation {
        var chain = lineage(header.pid).map(ProcessLink.init)
        if chain.isEmpty { chain = [ProcessLink(pid: header.pid, executable: evidence.path ?? "", argv: evidence.argv ?? [])] }
        return Violation(
            time: clock.rfc3339(boot: header.bootTimeNanoseconds), bootTimeNanoseconds: header.bootTimeNanoseconds,
            contract: rule.contract, rule: rule.rule.id, category: rule.rule.body.category, severity: rule.rule.severity,
            action: rule.rule.action, enforced: false, enforcement: nil, message: message,
            package: attribution?.package.map(PackageReference.init),
            attribution: AttributionReference(
                reason: (attribution?.reason ?? .unattributed).rawValue, evidence: attribution?.evidence ?? ""),
            processes: chain, evidence: evidence, ruleLocation: rule.rule.location.description, count: count, uid: header.uid)
    }
}
