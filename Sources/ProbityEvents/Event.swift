/// The events Probity reports, as value types.
///
/// Each kernel record (see `bpf/` and `Sources/CProbityBPF/include/probity.h`) decodes into one
/// ``Event``. The fields every record carries live in ``EventHeader``; the rest in the payload
/// of each case.

/// What kind of activity an event reports.
public enum EventKind: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case exec = 1
    case fork = 2
    case exit = 3
    case open = 4
    case connect = 5
    case ioUring = 6
    case unlink = 7
    case link = 8
    case memory = 9
    case abi = 10

    /// The name used in JSON output and in counters.
    public var description: String {
        switch self {
        case .exec: "exec"
        case .fork: "fork"
        case .exit: "exit"
        case .open: "open"
        case .connect: "connect"
        case .ioUring: "io_uring"
        case .unlink: "unlink"
        case .link: "link"
        case .memory: "memory"
        case .abi: "abi"
        }
    }
}

/// Truncation and special-case markers a record carries (`probity_header.flags`).
public struct EventFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// A path or filename was cut at the kernel's limit.
    public static let pathTruncated = EventFlags(rawValue: 1 << 0)
    /// A directory walk (exe, cwd, the directory of a relative open) stopped at a limit.
    public static let dentryPathTruncated = EventFlags(rawValue: 1 << 1)
    /// argv was cut (4 KiB or 32 entries).
    public static let argvTruncated = EventFlags(rawValue: 1 << 2)
    /// An open's path was relative; it was resolved against a directory.
    public static let relative = EventFlags(rawValue: 1 << 3)
    /// An exec that failed, reported from the syscall's exit.
    public static let failedExec = EventFlags(rawValue: 1 << 4)
    /// The executed file has no link on disk: a `memfd_create` file or a deleted one.
    public static let executableUnlinked = EventFlags(rawValue: 1 << 5)
    /// An open that stands for several identical opens (see ``FileOpen/count``).
    public static let coalesced = EventFlags(rawValue: 1 << 6)
    /// The environment was larger than the kernel copies (its last 16 KiB were kept).
    public static let environmentTruncated = EventFlags(rawValue: 1 << 7)
    /// Enforce mode: the kernel program sent SIGKILL for this open or exec.
    public static let killed = EventFlags(rawValue: 1 << 8)
    /// An open that carries the opened object: its dentry path, device and inode.
    public static let object = EventFlags(rawValue: 1 << 9)
    /// An exec of a script: the kernel ran its interpreter (``ProcessExec/executable``) on it.
    public static let script = EventFlags(rawValue: 1 << 10)
}

/// Fields common to every event.
public struct EventHeader: Sendable, Hashable {
    /// When it happened, in nanoseconds of `CLOCK_BOOTTIME`.
    public var bootTimeNanoseconds: UInt64
    public var kind: EventKind
    public var flags: EventFlags
    /// Process (thread-group) id.
    public var pid: Int32
    /// Thread id.
    public var tid: Int32
    /// The real parent's process id at the time of the event.
    public var ppid: Int32
    public var uid: UInt32
    public var gid: UInt32
    public var cgroupID: UInt64

    public init(
        bootTimeNanoseconds: UInt64, kind: EventKind, flags: EventFlags = [], pid: Int32, tid: Int32,
        ppid: Int32, uid: UInt32, gid: UInt32, cgroupID: UInt64
    ) {
        self.bootTimeNanoseconds = bootTimeNanoseconds
        self.kind = kind
        self.flags = flags
        self.pid = pid
        self.tid = tid
        self.ppid = ppid
        self.uid = uid
        self.gid = gid
        self.cgroupID = cgroupID
    }
}

/// A program started executing (or failed to).
public struct ProcessExec: Sendable, Hashable {
    public var header: EventHeader
    /// 0 on success, or a negative errno.
    public var result: Int64
    /// The process's start time (`CLOCK_BOOTTIME` ns); with the pid, a stable identity.
    public var startTimeNanoseconds: UInt64
    /// The path as passed to execve (relative, a symlink, `/dev/fd/N` for `fexecve`).
    public var filename: String
    /// The file the kernel executed, resolved (for a `#!` script, its interpreter). Empty for a
    /// failed exec.
    public var executable: String
    public var argv: [String]
    /// argc as the kernel counted it; larger than `argv.count` when argv was truncated.
    public var argc: UInt32
    public var cwd: String
    /// The environment variables kept from the exec (`KEY=VALUE`): only those that name a
    /// package manager's lifecycle or build (``EnvironmentFilter``), never the rest.
    public var environment: [String]

    /// An exec as the decoder builds it; also for building events in memory (benchmarks).
    public init(
        header: EventHeader, result: Int64, startTimeNanoseconds: UInt64, filename: String, executable: String,
        argv: [String], argc: UInt32, cwd: String, environment: [String]
    ) {
        self.header = header
        self.result = result
        self.startTimeNanoseconds = startTimeNanoseconds
        self.filename = filename
        self.executable = executable
        self.argv = argv
        self.argc = argc
        self.cwd = cwd
        self.environment = environment
    }

    /// The executable is memory-backed (`memfd_create`) or deleted from disk.
    public var isMemoryBacked: Bool { header.flags.contains(.executableUnlinked) }
    /// The file named was a script (`#!`): ``executable`` is its interpreter, ``filename`` the script.
    public var isScript: Bool { header.flags.contains(.script) }
    public var succeeded: Bool { result == 0 }
}

/// A process created another (threads are not reported).
public struct ProcessFork: Sendable, Hashable {
    public var header: EventHeader
    public var childPID: Int32
    public var childStartTimeNanoseconds: UInt64
}

/// The last thread of a process exited.
public struct ProcessExit: Sendable, Hashable {
    public var header: EventHeader
    /// The wait(2) status word.
    public var status: UInt32
    public var startTimeNanoseconds: UInt64

    /// The exit code, when the process exited normally.
    public var exitCode: Int32? { status & 0x7f == 0 ? Int32((status >> 8) & 0xff) : nil }
    /// The signal that ended the process, if one did.
    public var signal: Int32? { status & 0x7f != 0 ? Int32(status & 0x7f) : nil }
}

/// A file as the kernel knows it: the filesystem's device and the inode number. Two paths that
/// name the same file (a hard link, a bind mount) give the same object.
public struct FileObject: Sendable, Hashable {
    /// The kernel's `dev_t` (major << 20 | minor), as in `struct super_block.s_dev`.
    public var device: UInt32
    public var inode: UInt64

    public init(device: UInt32, inode: UInt64) {
        self.device = device
        self.inode = inode
    }

    /// The object from `stat(2)`'s `st_dev` (user space's major << 8 | minor encoding).
    public init(statDevice: UInt64, inode: UInt64) {
        let major = UInt32(((statDevice >> 8) & 0xfff) | ((statDevice >> 32) & ~UInt64(0xfff)))
        let minor = UInt32((statDevice & 0xff) | ((statDevice >> 12) & ~UInt64(0xff)))
        self.init(device: (major << 20) | (minor & 0xfffff), inode: inode)
    }
}

/// A file was opened (open, openat, openat2, creat).
public struct FileOpen: Sendable, Hashable {
    public var header: EventHeader
    /// The file descriptor, or a negative errno.
    public var result: Int64
    /// The path contracts judge. For a successful open, the kernel's own path of the opened file
    /// (symlinks, `..`, `.` and repeated slashes resolved; relative paths made absolute). For a
    /// failed one, the path as passed, joined to the directory it was relative to (the dirfd's
    /// or the cwd, as the kernel saw it at the time) and normalised lexically.
    public var path: String
    /// The path exactly as the caller passed it (evidence; never judged).
    public var requestedPath: String
    public var flags: OpenFlags
    public var mode: UInt32
    public var dirfd: Int32
    /// How many identical opens (same process, file, flags and outcome) this event stands for.
    public var count: UInt32
    public var syscall: Syscall
    /// The opened file's device and inode (successful opens).
    public var object: FileObject?

    /// An open as the decoder builds it; also for building events in memory (benchmarks).
    public init(
        header: EventHeader, result: Int64, path: String, requestedPath: String, flags: OpenFlags, mode: UInt32,
        dirfd: Int32, count: UInt32, syscall: Syscall, object: FileObject? = nil
    ) {
        self.header = header
        self.result = result
        self.path = path
        self.requestedPath = requestedPath
        self.flags = flags
        self.mode = mode
        self.dirfd = dirfd
        self.count = count
        self.syscall = syscall
        self.object = object
    }
}

/// An outbound connection attempt, or a datagram sent to a named destination.
/// A file or directory removed (unlink, unlinkat, rmdir), or an attempt.
public struct FileRemoval: Sendable, Hashable {
    public var header: EventHeader
    /// 0, or -errno.
    public var result: Int64
    /// The absolute path: as passed, joined to its directory when relative, and normalised
    /// lexically (`//`, `/./`, `/../`).
    public var path: String
    /// The path as the caller passed it.
    public var requestedPath: String
    public var dirfd: Int32
    /// Whether a directory was removed (rmdir, unlinkat with AT_REMOVEDIR).
    public var isDirectory: Bool
    public var syscall: Syscall

    public init(
        header: EventHeader, result: Int64, path: String, requestedPath: String, dirfd: Int32, isDirectory: Bool, syscall: Syscall
    ) {
        self.header = header
        self.result = result
        self.path = path
        self.requestedPath = requestedPath
        self.dirfd = dirfd
        self.isDirectory = isDirectory
        self.syscall = syscall
    }
}

public struct NetworkConnect: Sendable, Hashable {
    public var header: EventHeader
    /// 0, a negative errno (`-EINPROGRESS` for a non-blocking attempt under way), or, for
    /// sendto/sendmsg, the bytes sent.
    public var result: Int64
    public var destination: SocketAddress
    public var socketType: SocketType
    public var transport: TransportProtocol
    public var fd: Int32
    public var syscall: Syscall

    /// A connect as the decoder builds it; also for building events in memory (benchmarks).
    public init(
        header: EventHeader, result: Int64, destination: SocketAddress, socketType: SocketType,
        transport: TransportProtocol, fd: Int32, syscall: Syscall
    ) {
        self.header = header
        self.result = result
        self.destination = destination
        self.socketType = socketType
        self.transport = transport
        self.fd = fd
        self.syscall = syscall
    }
}

/// A name placed in a directory: a file renamed (moved) to it, another name linked to a file, or
/// a symbolic link created there.
public struct FileLink: Sendable, Hashable {
    public enum Operation: String, Sendable, Hashable {
        case rename, link, symlink
    }

    public var header: EventHeader
    /// 0, or -errno.
    public var result: Int64
    public var operation: Operation
    /// The new name, absolute: joined to its directory when relative, normalised lexically.
    public var destination: String
    /// The new name as passed.
    public var requestedDestination: String
    /// rename / link: the existing file, absolute (normalised); symlink: the link's text as passed
    /// (what it will point at, resolved only when followed).
    public var source: String
    public var requestedSource: String
    /// renameat2's `RENAME_*` or linkat's `AT_*` flags.
    public var callFlags: UInt32
    public var syscall: Syscall

    public init(
        header: EventHeader, result: Int64, operation: Operation, destination: String, requestedDestination: String,
        source: String, requestedSource: String, callFlags: UInt32, syscall: Syscall
    ) {
        self.header = header
        self.result = result
        self.operation = operation
        self.destination = destination
        self.requestedDestination = requestedDestination
        self.source = source
        self.requestedSource = requestedSource
        self.callFlags = callFlags
        self.syscall = syscall
    }
}

/// A process read or wrote another process's memory directly (process_vm_readv / writev), or
/// attached to it as a tracer (ptrace), after which it can do both.
public struct ProcessMemoryAccess: Sendable, Hashable {
    public var header: EventHeader
    /// Bytes moved, 0, or -errno.
    public var result: Int64
    /// The other process, as the caller named it.
    public var targetPID: Int32
    /// ptrace's request (16 attach, 0x4206 seize); 0 otherwise.
    public var request: UInt32
    public var syscall: Syscall

    public init(header: EventHeader, result: Int64, targetPID: Int32, request: UInt32, syscall: Syscall) {
        self.header = header
        self.result = result
        self.targetPID = targetPID
        self.request = request
        self.syscall = syscall
    }
}

/// A process made a system call through an ABI that the per-syscall probes never see (a 32-bit
/// call on a 64-bit machine): what it did is unknown. Reported once per process.
public struct UnmonitoredSyscall: Sendable, Hashable {
    public var header: EventHeader
    /// The call's number in that ABI's table.
    public var number: UInt32
    /// 1: the 32-bit compat ABI.
    public var abi: UInt32

    public init(header: EventHeader, number: UInt32, abi: UInt32) {
        self.header = header
        self.number = number
        self.abi = abi
    }

    /// A name for the ABI.
    public var abiName: String { abi == 1 ? "32-bit compat" : "abi \(abi)" }
}

/// An io_uring ring was created, or a request that bypasses syscall tracepoints was submitted.
public struct IOUringActivity: Sendable, Hashable {
    public var header: EventHeader
    public var syscall: Syscall
    /// The `IORING_OP_*` opcode of a submission.
    public var opcode: UInt8
    public var fd: Int32
    public var submissionEntries: UInt32
    public var completionEntries: UInt32

    /// A readable name of the opcode.
    public var operation: String {
        switch (syscall, opcode) {
        case (.ioUringSetup, _): "setup"
        case (_, 16): "connect"
        case (_, 18): "openat"
        case (_, 28): "openat2"
        default: "op\(opcode)"
        }
    }
}

/// One decoded kernel record.
public enum Event: Sendable, Hashable {
    case exec(ProcessExec)
    case fork(ProcessFork)
    case exit(ProcessExit)
    case open(FileOpen)
    case connect(NetworkConnect)
    case ioUring(IOUringActivity)
    case unlink(FileRemoval)
    case link(FileLink)
    case memory(ProcessMemoryAccess)
    case abi(UnmonitoredSyscall)

    public var header: EventHeader {
        switch self {
        case .exec(let e): e.header
        case .fork(let e): e.header
        case .exit(let e): e.header
        case .open(let e): e.header
        case .connect(let e): e.header
        case .ioUring(let e): e.header
        case .unlink(let e): e.header
        case .link(let e): e.header
        case .memory(let e): e.header
        case .abi(let e): e.header
        }
    }

    public var kind: EventKind { header.kind }
    public var pid: Int32 { header.pid }
}

/// The system call behind an event.
public enum Syscall: UInt16, Sendable, CustomStringConvertible {
    case unknown = 0
    case open = 1, openat, openat2, creat, connect, sendto, sendmsg, execve, execveat
    case ioUringSetup, ioUringSubmit
    case unlink, unlinkat, rmdir
    case openByHandleAt, sendmmsg
    case rename, renameat, renameat2, link, linkat, symlink, symlinkat
    case processVMReadv, processVMWritev, ptrace
    case ioUringOpenat, ioUringConnect

    public var description: String {
        switch self {
        case .unknown: "unknown"
        case .open: "open"
        case .openat: "openat"
        case .openat2: "openat2"
        case .creat: "creat"
        case .connect: "connect"
        case .sendto: "sendto"
        case .sendmsg: "sendmsg"
        case .execve: "execve"
        case .execveat: "execveat"
        case .ioUringSetup: "io_uring_setup"
        case .ioUringSubmit: "io_uring_submit"
        case .unlink: "unlink"
        case .unlinkat: "unlinkat"
        case .rmdir: "rmdir"
        case .openByHandleAt: "open_by_handle_at"
        case .sendmmsg: "sendmmsg"
        case .rename: "rename"
        case .renameat: "renameat"
        case .renameat2: "renameat2"
        case .link: "link"
        case .linkat: "linkat"
        case .symlink: "symlink"
        case .symlinkat: "symlinkat"
        case .processVMReadv: "process_vm_readv"
        case .processVMWritev: "process_vm_writev"
        case .ptrace: "ptrace"
        case .ioUringOpenat: "io_uring openat"
        case .ioUringConnect: "io_uring connect"
        }
    }
}
