#if canImport(Glibc)
import Glibc
#endif
import ProbityEvents

/// What enforce mode asks of the kernel, derived from a ``ContractSet``: per contract (its
/// *class*, numbered from 1), the paths whose open or exec is killed, whether reading another
/// process's memory is, and the destinations whose connect is denied.
///
/// The kernel matches exact paths and directory prefixes of the object's own path, and the
/// objects (device and inode) of the credential files that exist now. A pattern is
/// kernel-enforceable when it is literal, ends in `/**` after a literal directory, or has
/// `*`/`?` segments that expand on the filesystem now (`/home/*/.ssh/**` becomes one prefix per
/// home). Other patterns, and allow lists of `files` and `exec` rules, are enforced from user
/// space after the event (a late kill), which the violation records.
///
/// Each kernel-enforced rule of a class has a bit (``PathEntry/ruleBit``): an exception entry
/// cancels only its own rule's kills. A class enforces at most 32 such rules in the kernel; the
/// rest are left to user space.
public struct EnforcementPlan: Sendable {
    /// Access bits, as `enum probity_access` in probity.h.
    public struct Access: OptionSet, Sendable, Hashable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let read = Access(rawValue: 1 << 0)
        public static let write = Access(rawValue: 1 << 1)
        public static let create = Access(rawValue: 1 << 2)
        public static let exec = Access(rawValue: 1 << 3)
        public static let all: Access = [.read, .write, .create, .exec]
    }

    /// A path the kernel checks: the exact path, or (prefix) a directory and all under it.
    public struct PathEntry: Sendable, Hashable {
        public var path: String
        public var prefix: Bool
        /// Kill, or an exception that prevents a kill.
        public var kill: Bool
        public var access: Access
        /// The rule's number in ``rules``.
        public var rule: UInt32
        /// The rule's bit within its class (0-31).
        public var ruleBit: Int
    }

    /// A file the kernel recognises by its object, whatever path names it (a hard link to a
    /// credential file, the same file through a bind mount).
    public struct ObjectEntry: Sendable, Hashable {
        public var object: FileObject
        /// The path it was found at, for the record.
        public var path: String
        public var access: Access
        public var rule: UInt32
        public var ruleBit: Int
    }

    /// A destination rule for an address range (IPv4 4 bytes, IPv6 16).
    public struct NetworkEntry: Sendable, Hashable {
        public var address: [UInt8]
        public var prefixLength: Int
        public var ports: ClosedRange<UInt16>
        /// 0 any, 6 TCP, 17 UDP.
        public var `protocol`: UInt8
        public var deny: Bool
    }

    /// Names whose addresses, once seen in DNS answers, become network entries.
    public struct HostEntry: Sendable, Hashable {
        public var pattern: TextPattern
        public var ports: [ClosedRange<UInt16>]
        public var `protocol`: UInt8
        public var deny: Bool
    }

    public struct Class: Sendable {
        public var number: UInt32
        public var contract: String
        public var paths: [PathEntry] = []
        public var objects: [ObjectEntry] = []
        /// Rule bits that kill reads of another process's memory files.
        public var processMemoryRules: UInt32 = 0
        public var processMemory: Bool { processMemoryRules != 0 }
        /// Kill a process at its first system call through an ABI the probes cannot see.
        public var killUnmonitoredSyscalls = false
        public var networkAllowList = false
        public var network: [NetworkEntry] = []
        public var hosts: [HostEntry] = []
        /// Executables exempt from at least one kill rule (`except: exe`, a `secrets` rule's
        /// `readers`): their processes are left to user space.
        public var exemptExecutables: [PathGlob] = []
        /// An `exec` kill rule forbids programs with no link on disk (`memory-backed: deny`):
        /// the kernel kills an exec whose file is a memfd or deleted.
        public var killMemoryBackedExec = false

        /// Whether the kernel has anything to do for this class.
        public var isEmpty: Bool {
            paths.isEmpty && !processMemory && !networkAllowList && network.isEmpty && hosts.isEmpty && !killMemoryBackedExec
                && !killUnmonitoredSyscalls
        }
    }

    /// Per contract, in the contract set's order (class number = index + 1).
    public private(set) var classes: [Class] = []
    /// `contract/rule` by rule number.
    public private(set) var rules: [String] = []

    /// Builds the plan; `expand` lists the existing paths a wildcard pattern names (glob(3)), and
    /// `objects` the files that exist at an exact path or under a directory (device and inode).
    public init(
        _ set: ContractSet, expand: (String) -> [String] = EnforcementPlan.glob,
        objects: (String, Bool) -> [(String, FileObject)] = EnforcementPlan.existingFiles
    ) {
        for (index, contract) in set.contracts.enumerated() {
            var plan = Class(number: UInt32(index + 1), contract: contract.contract.name)
            var nextBit = 0
            for compiled in contract.allRules where compiled.rule.action != .alert {
                let number = UInt32(rules.count)
                rules.append("\(compiled.contract)/\(compiled.rule.id)")
                plan.exemptExecutables += compiled.except.absolute
                for readers in compiled.readers { plan.exemptExecutables += readers.executables.absolute }
                if compiled.execMemoryBacked && compiled.rule.action == .kill { plan.killMemoryBackedExec = true }
                if case .process = compiled.rule.body {
                    if compiled.unmonitoredSyscalls && compiled.rule.action == .kill { plan.killUnmonitoredSyscalls = true }
                    continue
                }
                if case .network = compiled.rule.body {
                    if compiled.rule.action == .deny { addNetwork(compiled, to: &plan) }
                    continue
                }
                guard nextBit < 32 else { continue }  // left to user space
                let bit = nextBit
                nextBit += 1
                func add(_ globs: [PathGlob], kill: Bool, access: Access, byObject: Bool = false) {
                    for glob in globs {
                        for (path, prefix) in Self.kernelPaths(glob.pattern, expand: expand) ?? [] {
                            plan.paths.append(PathEntry(path: path, prefix: prefix, kill: kill, access: access, rule: number, ruleBit: bit))
                            guard byObject && (!prefix || path != "/") else { continue }
                            for (found, object) in objects(path, prefix) {
                                plan.objects.append(ObjectEntry(object: object, path: found, access: access, rule: number, ruleBit: bit))
                            }
                        }
                    }
                }
                switch compiled.rule.body {
                case .secrets:
                    add(compiled.credentials.absolute, kill: true, access: .read, byObject: true)
                    if compiled.processMemory { plan.processMemoryRules |= UInt32(1) << UInt32(bit) }
                case .files:
                    for (access, patterns) in compiled.fileDeny {
                        let bits: Access = switch access {
                        case .read: .read
                        case .write: .write
                        case .create: .create
                        case .delete: []
                        }
                        if !bits.isEmpty { add(patterns.absolute, kill: true, access: bits) }
                    }
                case .exec:
                    add(compiled.execDeny.absolute, kill: true, access: .exec)
                case .network, .process, .integrity:
                    continue
                }
                add(compiled.exceptPaths.absolute, kill: false, access: .all)
            }
            classes.append(plan)
        }
    }

    private mutating func addNetwork(_ rule: CompiledRule, to plan: inout Class) {
        func entries(_ matchers: [NetworkEntryMatcher], deny: Bool) {
            for matcher in matchers {
                let entry = matcher.entry
                if !entry.unixPaths.isEmpty { continue }  // Unix sockets are not checked in the kernel
                let ports = entry.ports.isEmpty ? [0...UInt16.max] : entry.ports.map { $0.lower...$0.upper }
                let protocols: [UInt8] = entry.protocols.isEmpty ? [0] : entry.protocols.compactMap { $0 == "tcp" ? 6 : $0 == "udp" ? 17 : nil }
                var networks = matcher.networks.map { ($0.network, $0.prefixLength) }
                // Any address only when the entry names none: `{resolvers}` with no resolver known adds nothing.
                if !matcher.restrictsAddress { networks = [([0, 0, 0, 0], 0), ([UInt8](repeating: 0, count: 16), 0)] }
                for (address, length) in networks {
                    for range in ports {
                        for proto in protocols {
                            plan.network.append(NetworkEntry(address: address, prefixLength: length, ports: range, protocol: proto, deny: deny))
                        }
                    }
                }
                for host in entry.hosts {
                    for proto in protocols { plan.hosts.append(HostEntry(pattern: host, ports: ports, protocol: proto, deny: deny)) }
                }
            }
        }
        if let allow = rule.networkAllow {
            plan.networkAllowList = true
            entries(allow, deny: false)
        }
        entries(rule.networkDeny, deny: true)
        entries(rule.exceptDestinations, deny: false)
    }

    /// Kernel entries for a glob: `[(path, prefix)]`, or nil when the kernel cannot check it.
    static func kernelPaths(_ pattern: String, expand: (String) -> [String]) -> [(String, Bool)]? {
        let segments = pattern.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard !segments.isEmpty else { return nil }
        func wild(_ s: String) -> Bool { s.contains("*") || s.contains("?") || s.contains("[") }
        let trailingAll = segments.last == "**"
        let body = trailingAll ? Array(segments.dropLast()) : segments
        if body.contains("**") || body.isEmpty { return nil }
        let base = "/" + body.joined(separator: "/")
        let bases = body.contains(where: wild) ? expand(base) : [base]
        return bases.flatMap { path in trailingAll ? [(path, true), (path, false)] : [(path, false)] }
    }

    /// The regular files at `path` (exact) or under it (a directory, four levels deep, at most
    /// 4,096 files), with their objects. Symlinks are followed at the top (the object is what
    /// an open reaches), not below.
    public static func existingFiles(_ path: String, under prefix: Bool) -> [(String, FileObject)] {
        var out: [(String, FileObject)] = []
        func visit(_ path: String, depth: Int) {
            guard out.count < 4096 else { return }
            var st = stat()
            guard (depth == 0 ? stat(path, &st) : lstat(path, &st)) == 0 else { return }
            switch st.st_mode & S_IFMT {
            case S_IFREG:
                out.append((path, FileObject(statDevice: UInt64(st.st_dev), inode: UInt64(st.st_ino))))
            case S_IFDIR where prefix && depth < 4:
                guard let dir = opendir(path) else { return }
                defer { closedir(dir) }
                while let entry = readdir(dir) {
                    let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                        String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                    }
                    if name == "." || name == ".." { continue }
                    visit(path == "/" ? "/" + name : path + "/" + name, depth: depth + 1)
                }
            default:
                return
            }
        }
        visit(path, depth: 0)
        return out
    }

    /// The existing paths `pattern` names, by glob(3).
    public static func glob(_ pattern: String) -> [String] {
        var result = glob_t()
        defer { globfree(&result) }
        guard Glibc.glob(pattern, 0, nil, &result) == 0 else { return [] }
        return (0..<Int(result.gl_pathc)).compactMap { i in result.gl_pathv[i].map { String(cString: $0) } }
    }

    /// The class for a process of `contract` (an index into the set) running `executable`:
    /// 0, nothing enforced in the kernel, when the contract has nothing to enforce or the
    /// executable is exempt from one of its kill rules.
    public func enforcementClass(contract index: Int?, executable: String) -> UInt32 {
        guard let index, index < classes.count else { return 0 }
        let plan = classes[index]
        if plan.isEmpty { return 0 }
        if plan.exemptExecutables.contains(where: { $0.matches(executable) }) { return 0 }
        return plan.number
    }
}
