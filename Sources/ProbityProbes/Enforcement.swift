#if canImport(Glibc)
import Glibc
#endif
import CProbityBPF

/// The kernel side of enforce mode: which class (contract) each process is in, and per class
/// the paths whose open or exec is killed and the destinations whose connect is denied
/// (bpf/enforce.bpf.h, bpf/enforce.bpf.c). User space decides what goes in; the kernel acts.
extension KernelProbes {
    /// Kills and denied connects carried out by the kernel programs so far.
    public struct EnforcementCounts: Sendable, Hashable {
        public var kills: UInt64
        public var deniedConnects: UInt64
    }

    func attachEnforcement(_ obj: OpaquePointer, cgroup: String) throws(ProbeError) {
        let cgroupFD = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard cgroupFD >= 0 else { throw ProbeError(operation: "open cgroup \(cgroup)", errno: errno, libbpfLog: []) }
        defer { Glibc.close(cgroupFD) }
        for (name, isCgroup) in Self.enforcementPrograms {
            guard let prog = bpf_object__find_program_by_name(obj, name) else {
                throw ProbeError(operation: "find program \(name) in the BPF object", errno: ENOENT)
            }
            let link = isCgroup ? bpf_program__attach_cgroup(prog, cgroupFD) : bpf_program__attach(prog)
            guard let link else { throw ProbeError(operation: "attach \(name)\(isCgroup ? " to \(cgroup)" : "")", errno: errno) }
            links.append(link)
        }
    }

    private func enforcementMap(_ name: String) throws(ProbeError) -> Int32 {
        guard let object else { throw ProbeError(operation: "use map \(name) of closed probes", errno: EBADF, libbpfLog: []) }
        return try Self.mapFD(object, name)
    }

    private func update<K, V>(_ map: String, _ key: inout K, _ value: inout V) throws(ProbeError) {
        let fd = try enforcementMap(map)
        if bpf_map_update_elem(fd, &key, &value, UInt64(BPF_ANY)) != 0 {
            throw ProbeError(operation: "update map \(map)", errno: errno, libbpfLog: [])
        }
    }

    /// Puts process `pid` in `enforcementClass` (0: nothing enforced); its children inherit it.
    public func setEnforcementClass(pid: Int32, _ enforcementClass: UInt32) throws(ProbeError) {
        var key = UInt32(bitPattern: pid)
        var value = enforcementClass
        try update("enforce_class", &key, &value)
    }

    /// The class's flags: the rule bits that kill reads of another process's memory (none: no such
    /// kills), whether connects matching no network entry are denied, and whether memory-backed
    /// execs and system calls through an unmonitored ABI are killed.
    public func setClassFlags(
        _ enforcementClass: UInt32, processMemoryRules: UInt32, networkAllowList: Bool, killMemoryBackedExec: Bool = false,
        killUnmonitoredSyscalls: Bool = false
    ) throws(ProbeError) {
        var key = enforcementClass
        var value = probity_class(
            flags: (processMemoryRules != 0 ? UInt32(PROBITY_CLASS_PROC_MEMORY.rawValue) : 0)
                | (networkAllowList ? UInt32(PROBITY_CLASS_NET_ALLOWLIST.rawValue) : 0)
                | (killMemoryBackedExec ? UInt32(PROBITY_CLASS_KILL_MEMORY_EXEC.rawValue) : 0)
                | (killUnmonitoredSyscalls ? UInt32(PROBITY_CLASS_KILL_COMPAT_ABI.rawValue) : 0),
            proc_memory_rules: processMemoryRules)
        try update("enforce_classes", &key, &value)
    }

    /// A path entry: `prefix` covers the directory and everything under it, else the exact path.
    /// A kill entry sets the rule's bit for each access in `access`; an exception sets it as
    /// excepted (for every access). Entries for the same path merge. The path's bytes are stored
    /// with it: the kernel acts only when they equal the path it sees, so a path built to collide
    /// with this one's hash gains nothing.
    public func addPathRule(
        _ enforcementClass: UInt32, path: String, prefix: Bool, kill: Bool, access: UInt8, ruleBit: Int
    ) throws(ProbeError) {
        let bytes = Array(path.utf8)
        guard bytes.count < Int(PROBITY_ENFORCE_PATH_MAX), (0..<32).contains(ruleBit) else {
            throw ProbeError(operation: "add the enforcement path \(path) (longer than \(PROBITY_ENFORCE_PATH_MAX - 1) bytes, or rule bit \(ruleBit))", errno: EINVAL, libbpfLog: [])
        }
        var key = probity_path_key(
            cls: enforcementClass, match: UInt8(prefix ? PROBITY_MATCH_PREFIX.rawValue : PROBITY_MATCH_EXACT.rawValue),
            _pad0: 0, _pad1: 0, hash: Self.pathHash(path))
        let fd = try enforcementMap("enforce_paths")
        var value = probity_path_rule()
        if bpf_map_lookup_elem(fd, &key, &value) == 0 {
            guard Self.storedPath(value) == bytes else {
                throw ProbeError(operation: "add the enforcement path \(path): its hash collides with another entry's", errno: EEXIST, libbpfLog: [])
            }
        } else {
            value = probity_path_rule()
            value.len = UInt16(bytes.count)
            withUnsafeMutableBytes(of: &value.path) { raw in
                for (i, b) in bytes.enumerated() { raw[i] = b }
            }
        }
        let bit = UInt32(1) << UInt32(ruleBit)
        if kill {
            withUnsafeMutableBytes(of: &value.kill) { raw in
                let kinds = raw.bindMemory(to: UInt32.self)
                for a in 0..<Int(PROBITY_ACCESS_KINDS) where access & (1 << a) != 0 { kinds[a] |= bit }
            }
        } else {
            value.except |= bit
        }
        try update("enforce_paths", &key, &value)
    }

    /// An executable whose processes the class does not govern: the kernel takes a process out of
    /// the class when it execs exactly this file (its resolved path), before it runs.
    public func addExemptExecutable(_ enforcementClass: UInt32, path: String) throws(ProbeError) {
        let bytes = Array(path.utf8)
        guard bytes.count < Int(PROBITY_ENFORCE_PATH_MAX) else {
            throw ProbeError(operation: "add the exempt executable \(path) (too long)", errno: EINVAL, libbpfLog: [])
        }
        var key = probity_path_key(
            cls: enforcementClass, match: UInt8(PROBITY_MATCH_EXEMPT.rawValue), _pad0: 0, _pad1: 0, hash: Self.pathHash(path))
        var value = probity_path_rule()
        value.len = UInt16(bytes.count)
        withUnsafeMutableBytes(of: &value.path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let fd = try enforcementMap("enforce_paths")
        var existing = probity_path_rule()
        if bpf_map_lookup_elem(fd, &key, &existing) == 0 {
            guard Self.storedPath(existing) == bytes else {
                throw ProbeError(operation: "add the exempt executable \(path): its hash collides with another entry's", errno: EEXIST, libbpfLog: [])
            }
            return
        }
        try update("enforce_paths", &key, &value)
    }

    /// An object entry: the file with this device and inode, by whatever path it is opened.
    public func addInodeRule(
        _ enforcementClass: UInt32, device: UInt32, inode: UInt64, access: UInt8, ruleBit: Int
    ) throws(ProbeError) {
        guard (0..<32).contains(ruleBit) else {
            throw ProbeError(operation: "add an enforcement inode (rule bit \(ruleBit))", errno: EINVAL, libbpfLog: [])
        }
        var key = probity_inode_key(cls: enforcementClass, dev: device, ino: inode)
        let fd = try enforcementMap("enforce_inodes")
        var value = probity_inode_rule()
        if bpf_map_lookup_elem(fd, &key, &value) != 0 { value = probity_inode_rule() }
        withUnsafeMutableBytes(of: &value.kill) { raw in
            let kinds = raw.bindMemory(to: UInt32.self)
            for a in 0..<Int(PROBITY_ACCESS_KINDS) where access & (1 << a) != 0 { kinds[a] |= UInt32(1) << UInt32(ruleBit) }
        }
        try update("enforce_inodes", &key, &value)
    }

    /// The path bytes an entry holds.
    static func storedPath(_ value: probity_path_rule) -> [UInt8] {
        var copy = value
        let length = min(Int(value.len), Int(PROBITY_ENFORCE_PATH_MAX))
        return withUnsafeBytes(of: &copy.path) { Array($0.prefix(length)) }
    }

    /// One network entry for a class: an address range with up to eight port / protocol rules.
    public func setNetworkRule(
        _ enforcementClass: UInt32, address: [UInt8], prefixLength: Int, rules: [(ports: ClosedRange<UInt16>, protocol: UInt8, deny: Bool)]
    ) throws(ProbeError) {
        var mapped = address
        var length = prefixLength
        if address.count == 4 {
            mapped = [UInt8](repeating: 0, count: 10) + [0xff, 0xff] + address
            length += 96
        }
        guard mapped.count == 16 else { throw ProbeError(operation: "add a network rule (bad address)", errno: EINVAL, libbpfLog: []) }
        var key = probity_net_key()
        key.prefixlen = UInt32(32 + length)
        key.cls = enforcementClass.bigEndian
        withUnsafeMutableBytes(of: &key.addr) { raw in for i in 0..<16 { raw[i] = mapped[i] } }
        var value = probity_net_rule()
        value.count = UInt32(min(rules.count, Int(PROBITY_NET_PORT_RULES)))
        withUnsafeMutableBytes(of: &value.rules) { raw in
            let slots = raw.bindMemory(to: probity_net_port_rule.self)
            for (i, r) in rules.prefix(Int(PROBITY_NET_PORT_RULES)).enumerated() {
                slots[i] = probity_net_port_rule(
                    port_lo: r.ports.lowerBound, port_hi: r.ports.upperBound, protocol: r.protocol,
                    verdict: UInt8(r.deny ? PROBITY_VERDICT_DENY.rawValue : PROBITY_VERDICT_ALLOW.rawValue), _pad0: 0)
            }
        }
        try update("enforce_net", &key, &value)
    }

    public func enforcementCounts() -> EnforcementCounts {
        guard let fd = try? enforcementMap("enforced") else { return EnforcementCounts(kills: 0, deniedConnects: 0) }
        let cpus = Int(max(libbpf_num_possible_cpus(), 1))
        func sum(_ index: UInt32) -> UInt64 {
            var values = [UInt64](repeating: 0, count: cpus)
            var k = index
            let rc = values.withUnsafeMutableBytes { bpf_map_lookup_elem(fd, &k, $0.baseAddress) }
            return rc == 0 ? values.reduce(0, &+) : 0
        }
        return EnforcementCounts(kills: sum(0), deniedConnects: sum(1))
    }

    /// Paths at least this long (bytes) are not matched by the kernel: user space judges them.
    public static let enforcedPathLimit = Int(PROBITY_ENFORCE_PATH_MAX)

    /// FNV-1a (64-bit) over the bytes, as bpf/enforce.bpf.h computes it.
    public static func pathHash(_ path: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in path.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return hash
    }
}
