#if canImport(Glibc)
import Glibc
#endif
import CProbityBPF
import ProbityEvents

/// How the probes are set up before they attach.
public struct ProbeOptions: Sendable {
    /// Bytes in the BPF ring buffer (rounded up to a power of two, at least one page).
    public var ringBufferBytes: Int = 16 << 20
    /// Report only the process trees rooted at these pids (nil: the whole host).
    public var followPIDs: [Int32]? = nil
    /// A process whose own activity is never reported (the monitor itself).
    public var ignorePID: Int32 = getpid()
    /// Identical opens by one process within this window are folded into one record (0: off).
    public var coalesceWindowNanoseconds: UInt64 = 1_000_000_000
    /// The kernel wakes the reader only once this many bytes are pending; otherwise the reader
    /// polls. Per-record wake-ups triple the cost of an open on this kind of machine.
    public var wakeupBytes: UInt64 = 1 << 20
    /// Enforce mode: load the enforcement programs and attach the connect / sendmsg checks to
    /// this cgroup (v2) directory; the kill and deny entries go into the enforce maps.
    public var enforcementCgroup: String?
    /// Entries of the followed-process maps (`tracked`, `enforce_class`); nil: 65,536. A
    /// process the kernel cannot add when they are full is counted (``KernelProbes/mapFullCounts()``).
    /// Tests make it small to fill them.
    public var maxTracked: UInt32?

    public init() {}
}

/// A kernel hook one of the BPF programs attaches to.
public struct Hook: Sendable, Hashable {
    /// The BPF program's name (a function in `bpf/*.bpf.c`).
    public var program: String
    /// `tracepoint/<category>/<name>` or `tp_btf/<name>`.
    public var attachPoint: String
    /// Whether Probity can run without it.
    public var optional: Bool
}

/// Whether each hook was found, loaded and attached.
public struct HookStatus: Sendable, Hashable, CustomStringConvertible {
    public enum State: String, Sendable { case attached, absent, failed }
    public var hook: Hook
    public var state: State
    public var detail: String

    public var description: String {
        "\(hook.program) (\(hook.attachPoint)): \(state.rawValue)\(detail.isEmpty ? "" : " (\(detail))")"
    }
}

/// The loaded and attached BPF programs, their maps, and the ring buffer they write.
///
/// Create one with ``load(options:)``; it detaches everything when ``close()`` is called or it
/// is released.
public final class KernelProbes: @unchecked Sendable {
    // Safety: the libbpf object is used from the thread that owns this instance, except for
    // map reads (thread-safe syscalls) and the ring buffer, which the reader thread owns.

    /// Every hook Probity knows, in attach order. Required hooks failing to attach is an error.
    public static let hooks: [Hook] = [
        Hook(program: "probity_fork", attachPoint: "tp_btf/sched_process_fork", optional: false),
        Hook(program: "probity_exec", attachPoint: "tp_btf/sched_process_exec", optional: false),
        Hook(program: "probity_exit", attachPoint: "tp_btf/sched_process_exit", optional: false),
        Hook(program: "probity_execve_exit", attachPoint: "tracepoint/syscalls/sys_exit_execve", optional: false),
        Hook(program: "probity_execveat_exit", attachPoint: "tracepoint/syscalls/sys_exit_execveat", optional: true),
        // Every system call's exit: the open family and the 32-bit ABI (bpf/syscall_exit.bpf.c).
        Hook(program: "probity_syscall_exit", attachPoint: "tp_btf/sys_exit", optional: false),
        Hook(program: "probity_connect_exit", attachPoint: "tracepoint/syscalls/sys_exit_connect", optional: false),
        Hook(program: "probity_sendto_exit", attachPoint: "tracepoint/syscalls/sys_exit_sendto", optional: true),
        Hook(program: "probity_sendmsg_exit", attachPoint: "tracepoint/syscalls/sys_exit_sendmsg", optional: true),
        Hook(program: "probity_unlinkat_exit", attachPoint: "tracepoint/syscalls/sys_exit_unlinkat", optional: true),
        Hook(program: "probity_unlink_exit", attachPoint: "tracepoint/syscalls/sys_exit_unlink", optional: true),
        Hook(program: "probity_rmdir_exit", attachPoint: "tracepoint/syscalls/sys_exit_rmdir", optional: true),
        Hook(program: "probity_io_uring_create", attachPoint: "tp_btf/io_uring_create", optional: true),
        Hook(program: "probity_io_uring_submit", attachPoint: "tp_btf/io_uring_submit_req", optional: true),
        Hook(program: "probity_sendmmsg_exit", attachPoint: "tracepoint/syscalls/sys_exit_sendmmsg", optional: true),
        Hook(program: "probity_rename_exit", attachPoint: "tracepoint/syscalls/sys_exit_rename", optional: true),
        Hook(program: "probity_renameat_exit", attachPoint: "tracepoint/syscalls/sys_exit_renameat", optional: true),
        Hook(program: "probity_renameat2_exit", attachPoint: "tracepoint/syscalls/sys_exit_renameat2", optional: true),
        Hook(program: "probity_link_exit", attachPoint: "tracepoint/syscalls/sys_exit_link", optional: true),
        Hook(program: "probity_linkat_exit", attachPoint: "tracepoint/syscalls/sys_exit_linkat", optional: true),
        Hook(program: "probity_symlink_exit", attachPoint: "tracepoint/syscalls/sys_exit_symlink", optional: true),
        Hook(program: "probity_symlinkat_exit", attachPoint: "tracepoint/syscalls/sys_exit_symlinkat", optional: true),
        Hook(program: "probity_process_vm_readv_exit", attachPoint: "tracepoint/syscalls/sys_exit_process_vm_readv", optional: true),
        Hook(program: "probity_process_vm_writev_exit", attachPoint: "tracepoint/syscalls/sys_exit_process_vm_writev", optional: true),
        Hook(program: "probity_ptrace_exit", attachPoint: "tracepoint/syscalls/sys_exit_ptrace", optional: true),
    ]

    /// Programs of enforce mode (bpf/enforce.bpf.c): loaded and attached only then.
    static let enforcementPrograms: [(program: String, cgroup: Bool)] = [
        ("probity_enforce_fork", false), ("probity_enforce_exit", false),
        ("probity_enforce_connect4", true), ("probity_enforce_connect6", true),
        ("probity_enforce_sendmsg4", true), ("probity_enforce_sendmsg6", true),
    ]

    var object: OpaquePointer?
    var links: [OpaquePointer] = []
    /// What happened to each hook at start-up.
    public private(set) var hookStatus: [HookStatus] = []
    public let options: ProbeOptions

    /// File descriptor of the `events` ring buffer map.
    public private(set) var eventsMapFD: Int32 = -1
    private var droppedMapFD: Int32 = -1
    private var coalescedMapFD: Int32 = -1
    private var trackedMapFD: Int32 = -1
    private var mapFullFD: Int32 = -1

    /// Opens the embedded BPF object, loads it, writes the settings and attaches every hook that
    /// exists on this kernel. Mounts tracefs and bpffs first if they are missing.
    public static func load(options: ProbeOptions = ProbeOptions()) throws(ProbeError) -> KernelProbes {
        LibbpfLog.install()
        KernelFilesystems.mountIfNeeded()
        // An optional program the verifier refuses is left out and reported, and the object is
        // loaded again without it (libbpf loads an object's programs all together).
        var refused: [String: String] = [:]
        while true {
            do {
                return try KernelProbes(options: options, refused: refused)
            } catch {
                guard error.operation.hasPrefix("load BPF object"),
                      let program = Self.refusedOptionalProgram(in: error.libbpfLog), refused[program] == nil
                else { throw error }
                refused[program] = "refused by the verifier: \(error.libbpfLog.last ?? "")"
            }
        }
    }

    /// The optional program libbpf says failed to load, from lines like
    /// `libbpf: prog 'probity_io_uring_submit': failed to load: -13`.
    static func refusedOptionalProgram(in log: [String]) -> String? {
        for line in log.reversed() {
            guard let start = line.range(of: "prog '"), let end = line[start.upperBound...].firstIndex(of: "'"),
                  line.contains("failed to load") else { continue }
            let name = String(line[start.upperBound..<end])
            if hooks.contains(where: { $0.program == name && $0.optional }) { return name }
        }
        return nil
    }

    private init(options: ProbeOptions, refused: [String: String]) throws(ProbeError) {
        self.options = options
        var size = 0
        guard let bytes = probity_bpf_object_bytes(&size), size > 0 else {
            throw ProbeError(
                operation: "find the embedded BPF object (build with `make`, which compiles bpf/ first)",
                errno: ENOENT, libbpfLog: [])
        }
        var openOptions = bpf_object_open_opts()
        openOptions.sz = MemoryLayout<bpf_object_open_opts>.size
        let obj: OpaquePointer? = "probity".withCString { name in
            openOptions.object_name = name
            return bpf_object__open_mem(bytes, size, &openOptions)
        }
        guard let obj else { throw ProbeError(operation: "open BPF object", errno: errno) }
        object = obj

        do throws(ProbeError) {
            try Self.setRingSize(obj, bytes: options.ringBufferBytes)
            try Self.sizePerCPUSlots(obj)
            if let entries = options.maxTracked {
                for name in ["tracked", "enforce_class"] {
                    guard let map = bpf_object__find_map_by_name(obj, name) else {
                        throw ProbeError(operation: "find map \(name)", errno: ENOENT)
                    }
                    let rc = bpf_map__set_max_entries(map, max(entries, 1))
                    if rc != 0 { throw ProbeError(operation: "size the map \(name) to \(entries) entries", errno: -rc) }
                }
            }
            var status: [String: HookStatus] = [:]
            let vmlinux = btf__load_vmlinux_btf()
            defer { if let vmlinux { btf__free(vmlinux) } }
            for hook in Self.hooks {
                guard let prog = bpf_object__find_program_by_name(obj, hook.program) else {
                    throw ProbeError(operation: "find program \(hook.program) in the BPF object", errno: ENOENT)
                }
                let presence = Self.hookPresence(hook, vmlinux: vmlinux)
                if case .inaccessible(let err) = presence {
                    throw ProbeError(operation: "look up \(hook.attachPoint) in tracefs", errno: err, libbpfLog: [])
                }
                if presence == .absent {
                    if !hook.optional {
                        throw ProbeError(operation: "find \(hook.attachPoint) on this kernel", errno: ENOENT, libbpfLog: [])
                    }
                    bpf_program__set_autoload(prog, false)
                    status[hook.program] = HookStatus(hook: hook, state: .absent, detail: "not on this kernel")
                } else if let reason = refused[hook.program] {
                    bpf_program__set_autoload(prog, false)
                    status[hook.program] = HookStatus(hook: hook, state: .failed, detail: reason)
                }
            }
            for (name, _) in Self.enforcementPrograms where options.enforcementCgroup == nil {
                if let prog = bpf_object__find_program_by_name(obj, name) { bpf_program__set_autoload(prog, false) }
            }
            LibbpfLog.shared.clear()
            let loaded = bpf_object__load(obj)
            if loaded != 0 { throw ProbeError(operation: "load BPF object (verifier)", errno: -loaded) }

            eventsMapFD = try Self.mapFD(obj, "events")
            droppedMapFD = try Self.mapFD(obj, "dropped")
            coalescedMapFD = try Self.mapFD(obj, "coalesced_total")
            trackedMapFD = try Self.mapFD(obj, "tracked")
            mapFullFD = try Self.mapFD(obj, "map_full")
            try writeSettings(obj)
            if let roots = options.followPIDs {
                for pid in roots { try follow(pid: pid) }
            }

            for hook in Self.hooks where status[hook.program] == nil {
                guard let prog = bpf_object__find_program_by_name(obj, hook.program) else { continue }
                if let link = bpf_program__attach(prog) {
                    links.append(link)
                    status[hook.program] = HookStatus(hook: hook, state: .attached, detail: "")
                } else {
                    let err = errno
                    if !hook.optional { throw ProbeError(operation: "attach \(hook.program) to \(hook.attachPoint)", errno: err) }
                    status[hook.program] = HookStatus(
                        hook: hook, state: .failed, detail: String(cString: strerror(err)))
                }
            }
            hookStatus = Self.hooks.compactMap { status[$0.program] }
            if let cgroup = options.enforcementCgroup { try attachEnforcement(obj, cgroup: cgroup) }
        } catch {
            close()
            throw error
        }
    }

    deinit { close() }

    /// Detaches every program and frees the object. Idempotent.
    public func close() {
        for link in links { bpf_link__destroy(link) }
        links.removeAll()
        if let object { bpf_object__close(object) }
        object = nil
    }

    /// Adds a process to the followed trees (effective only with `followPIDs` set).
    public func follow(pid: Int32) throws(ProbeError) {
        var key = UInt32(bitPattern: pid)
        var one: UInt8 = 1
        if bpf_map_update_elem(trackedMapFD, &key, &one, UInt64(BPF_ANY)) != 0 {
            throw ProbeError(operation: "add pid \(pid) to the followed tree", errno: errno, libbpfLog: [])
        }
    }

    /// Records the kernel could not reserve in the ring buffer, per event kind, since load.
    public func kernelDrops() -> [EventKind: UInt64] {
        var out: [EventKind: UInt64] = [:]
        for kind in EventKind.allCases {
            out[kind] = sumPerCPU(fd: droppedMapFD, key: kind.rawValue)
        }
        return out
    }

    /// Processes the kernel could not add to a full map since load: `tracked` (children of a
    /// followed process that are not followed: their events are not seen) and `enforce_class`
    /// (children of a classified process that nothing is enforced on).
    public func mapFullCounts() -> (tracked: UInt64, enforceClass: UInt64) {
        (sumPerCPU(fd: mapFullFD, key: UInt32(PROBITY_FULL_TRACKED.rawValue)),
         sumPerCPU(fd: mapFullFD, key: UInt32(PROBITY_FULL_ENFORCE_CLASS.rawValue)))
    }

    /// Opens the kernel folded into earlier identical records, since load.
    public func coalescedOpens() -> UInt64 { sumPerCPU(fd: coalescedMapFD, key: 0) }

    private func sumPerCPU(fd: Int32, key: UInt32) -> UInt64 {
        let cpus = Int(max(libbpf_num_possible_cpus(), 1))
        var values = [UInt64](repeating: 0, count: cpus)
        var k = key
        let rc = values.withUnsafeMutableBytes { bpf_map_lookup_elem(fd, &k, $0.baseAddress) }
        return rc == 0 ? values.reduce(0, &+) : 0
    }

    private func writeSettings(_ obj: OpaquePointer) throws(ProbeError) {
        let fd = try Self.mapFD(obj, "settings")
        var settings = probity_config(
            follow_tree: options.followPIDs == nil ? 0 : 1,
            ignore_tgid: UInt32(bitPattern: options.ignorePID),
            coalesce_window_ns: options.coalesceWindowNanoseconds,
            wakeup_bytes: options.wakeupBytes,
            enforce: options.enforcementCgroup == nil ? 0 : 1,
            _pad0: 0)
        var key: UInt32 = 0
        if bpf_map_update_elem(fd, &key, &settings, UInt64(BPF_ANY)) != 0 {
            throw ProbeError(operation: "write the probes' settings", errno: errno, libbpfLog: [])
        }
    }

    private static func setRingSize(_ obj: OpaquePointer, bytes: Int) throws(ProbeError) {
        guard let map = bpf_object__find_map_by_name(obj, "events") else {
            throw ProbeError(operation: "find map events", errno: ENOENT)
        }
        var size = max(Int(getpagesize()), 4096)
        while size < bytes { size <<= 1 }
        let rc = bpf_map__set_max_entries(map, UInt32(size))
        if rc != 0 { throw ProbeError(operation: "set the ring buffer size to \(size)", errno: -rc) }
    }

    /// The scratch map has one slot per possible CPU; the kernel's caches (coalescing, the
    /// directory cache) have their slots once per possible CPU, indexed by CPU in the programs.
    private static func sizePerCPUSlots(_ obj: OpaquePointer) throws(ProbeError) {
        let cpus = libbpf_num_possible_cpus()
        if cpus <= 0 { throw ProbeError(operation: "count the possible CPUs", errno: -cpus) }
        let perCPU: [(map: String, slots: Int32)] = [
            ("scratch_map", 1), ("coalesce", PROBITY_COALESCE_SLOTS), ("coalesce_kept", PROBITY_COALESCE_SLOTS),
            ("dir_cache", PROBITY_DIR_CACHE_SLOTS),
        ]
        for (name, slots) in perCPU {
            guard let map = bpf_object__find_map_by_name(obj, name) else {
                throw ProbeError(operation: "find map \(name)", errno: ENOENT)
            }
            let rc = bpf_map__set_max_entries(map, UInt32(slots) * UInt32(cpus))
            if rc != 0 { throw ProbeError(operation: "size the map \(name) for \(cpus) CPUs", errno: -rc) }
        }
    }

    static func mapFD(_ obj: OpaquePointer, _ name: String) throws(ProbeError) -> Int32 {
        guard let map = bpf_object__find_map_by_name(obj, name) else {
            throw ProbeError(operation: "find map \(name)", errno: ENOENT)
        }
        let fd = bpf_map__fd(map)
        if fd < 0 { throw ProbeError(operation: "get the fd of map \(name)", errno: -fd) }
        return fd
    }

    enum Presence: Equatable { case present, absent, inaccessible(Int32) }

    /// Whether the tracepoint behind `hook` exists on the running kernel (or cannot be told:
    /// tracefs is not readable without privileges).
    static func hookPresence(_ hook: Hook, vmlinux: OpaquePointer?) -> Presence {
        if hook.attachPoint.hasPrefix("tp_btf/") {
            let name = "btf_trace_" + hook.attachPoint.dropFirst("tp_btf/".count)
            guard let vmlinux else { return .absent }
            return btf__find_by_name_kind(vmlinux, name, UInt32(BTF_KIND_TYPEDEF)) > 0 ? .present : .absent
        }
        if hook.attachPoint.hasPrefix("raw_tracepoint/") {
            let name = "btf_trace_" + hook.attachPoint.dropFirst("raw_tracepoint/".count)
            guard let vmlinux else { return .absent }
            return btf__find_by_name_kind(vmlinux, name, UInt32(BTF_KIND_TYPEDEF)) > 0 ? .present : .absent
        }
        if hook.attachPoint.hasPrefix("tracepoint/") {
            let path = "/sys/kernel/tracing/events/" + hook.attachPoint.dropFirst("tracepoint/".count)
            if access(path, F_OK) == 0 { return .present }
            return errno == EACCES || errno == EPERM ? .inaccessible(errno) : .absent
        }
        return .absent
    }
}

/// The pseudo filesystems the probes need: tracefs (tracepoint ids) and bpffs.
public enum KernelFilesystems {
    /// Mounts tracefs at /sys/kernel/tracing and bpffs at /sys/fs/bpf when they are not mounted.
    /// Failures are left for the attach step to report.
    public static func mountIfNeeded() {
        if access("/sys/kernel/tracing/events", F_OK) != 0 {
            _ = mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, nil)
        }
        // A mount point sits on a different device from its parent directory.
        var inner = stat(), outer = stat()
        if stat("/sys/fs/bpf", &inner) != 0 || stat("/sys/fs", &outer) != 0 || inner.st_dev == outer.st_dev {
            _ = mount("bpf", "/sys/fs/bpf", "bpf", 0, nil)
        }
    }
}
