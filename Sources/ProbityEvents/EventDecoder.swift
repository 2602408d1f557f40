import CProbityBPF

/// Why a kernel record could not be decoded.
public struct DecodeError: Error, Hashable, CustomStringConvertible {
    public var reason: String
    public var recordSize: Int
    public var kind: UInt32

    public var description: String { "undecodable record (kind \(kind), \(recordSize) bytes): \(reason)" }
}

/// Turns the kernel's records (layouts in `probity.h`) into ``Event`` values.
///
/// Records are read with unaligned loads of the shared C structs, then the variable-length
/// tail is split by the lengths the fixed part gives. Nothing here trusts a length without
/// checking it against the record's size.
public enum EventDecoder {
    /// Decodes one record.
    public static func decode(_ record: UnsafeRawBufferPointer) throws(DecodeError) -> Event {
        guard record.count >= MemoryLayout<probity_header>.size else {
            throw DecodeError(reason: "shorter than a header", recordSize: record.count, kind: 0)
        }
        let raw = record.loadUnaligned(as: probity_header.self)
        guard let kind = EventKind(rawValue: raw.kind) else {
            throw DecodeError(reason: "unknown kind", recordSize: record.count, kind: raw.kind)
        }
        let header = EventHeader(
            bootTimeNanoseconds: raw.time_ns, kind: kind, flags: EventFlags(rawValue: raw.flags),
            pid: Int32(bitPattern: raw.pid), tid: Int32(bitPattern: raw.tid), ppid: Int32(bitPattern: raw.ppid),
            uid: raw.uid, gid: raw.gid, cgroupID: raw.cgroup_id)
        switch kind {
        case .exec: return .exec(try decodeExec(record, header))
        case .fork:
            let r = try load(probity_fork.self, record, kind)
            return .fork(ProcessFork(
                header: header, childPID: Int32(bitPattern: r.child_pid), childStartTimeNanoseconds: r.child_start_time_ns))
        case .exit:
            let r = try load(probity_exit.self, record, kind)
            return .exit(ProcessExit(header: header, status: r.exit_code, startTimeNanoseconds: r.start_time_ns))
        case .open: return .open(try decodeOpen(record, header))
        case .unlink:
            let o = try decodeOpen(record, header)
            return .unlink(FileRemoval(
                header: header, result: o.result, path: o.path, requestedPath: o.requestedPath, dirfd: o.dirfd,
                isDirectory: o.flags.rawValue & 0x200 != 0 || o.syscall == .rmdir, syscall: o.syscall))
        case .connect: return .connect(try decodeConnect(record, header))
        case .link: return .link(try decodeLink(record, header))
        case .memory:
            let r = try load(probity_memory.self, record, kind)
            return .memory(ProcessMemoryAccess(
                header: header, result: r.result, targetPID: Int32(bitPattern: r.target_pid), request: r.request,
                syscall: Syscall(rawValue: r.syscall) ?? .unknown))
        case .abi:
            let r = try load(probity_abi.self, record, kind)
            return .abi(UnmonitoredSyscall(header: header, number: r.syscall_nr, abi: r.abi))
        case .ioUring:
            let r = try load(probity_io_uring.self, record, kind)
            return .ioUring(IOUringActivity(
                header: header, syscall: Syscall(rawValue: r.syscall) ?? .unknown, opcode: r.opcode, fd: r.fd,
                submissionEntries: r.sq_entries, completionEntries: r.cq_entries))
        }
    }

    private static func load<T>(_ type: T.Type, _ record: UnsafeRawBufferPointer, _ kind: EventKind) throws(DecodeError) -> T {
        guard record.count >= MemoryLayout<T>.size else {
            throw DecodeError(
                reason: "shorter than its fixed part (\(MemoryLayout<T>.size) bytes)", recordSize: record.count,
                kind: kind.rawValue)
        }
        return record.loadUnaligned(as: T.self)
    }

    /// Splits the variable-length tail into consecutive pieces of the given lengths.
    private struct Tail {
        let bytes: UnsafeRawBufferPointer
        var offset: Int

        mutating func take(_ length: Int, kind: EventKind) throws(DecodeError) -> UnsafeRawBufferPointer {
            guard length >= 0, offset + length <= bytes.count else {
                throw DecodeError(reason: "a length runs past the record", recordSize: bytes.count, kind: kind.rawValue)
            }
            defer { offset += length }
            return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + length)])
        }
    }

    private static func decodeExec(_ record: UnsafeRawBufferPointer, _ header: EventHeader) throws(DecodeError) -> ProcessExec {
        let r = try load(probity_exec.self, record, .exec)
        var tail = Tail(bytes: record, offset: MemoryLayout<probity_exec>.size)
        let filename = PathText.string(try tail.take(Int(r.filename_len), kind: .exec))
        let exe = PathText.string(try tail.take(Int(r.exe_len), kind: .exec))
        var argv = PathText.strings(try tail.take(Int(r.argv_len), kind: .exec))
        let cwd = PathText.string(try tail.take(Int(r.cwd_len), kind: .exec))
        let env = EnvironmentFilter.kept(
            from: try tail.take(Int(r.env_len), kind: .exec),
            startsMidVariable: header.flags.contains(.environmentTruncated)).map(SecretRedaction.redact)
        var header = header
        if argv.count > Limits.maxArguments {
            argv.removeLast(argv.count - Limits.maxArguments)
            header.flags.insert(.argvTruncated)
        }
        if r.argc > argv.count { header.flags.insert(.argvTruncated) }
        // Tokens and passwords on command lines never reach an event, a store or a report.
        argv = SecretRedaction.redact(argv)
        return ProcessExec(
            header: header, result: r.result, startTimeNanoseconds: r.start_time_ns, filename: filename,
            executable: r.exe_len == 0 ? "" : exe, argv: argv, argc: r.argc, cwd: r.cwd_len == 0 ? "" : cwd,
            environment: env)
    }

    private static func decodeOpen(_ record: UnsafeRawBufferPointer, _ header: EventHeader) throws(DecodeError) -> FileOpen {
        let r = try load(probity_open.self, record, .open)
        var tail = Tail(bytes: record, offset: MemoryLayout<probity_open>.size)
        var requested = PathText.string(try tail.take(Int(r.path_len), kind: .open))
        let dir = PathText.string(try tail.take(Int(r.dir_len), kind: .open))
        let object = PathText.string(try tail.take(Int(r.object_len), kind: .open))
        let path: String
        if header.flags.contains(.object) && !object.isEmpty {
            // The kernel's own path of the opened file: what contracts judge.
            path = object
            if requested.isEmpty { requested = object }  // a coalesced record keeps only the object
        } else if header.flags.contains(.relative) {
            path = PathText.join(directory: r.dir_len == 0 ? "" : dir, relative: requested)
        } else {
            path = PathText.join(directory: "", relative: requested)
        }
        return FileOpen(
            header: header, result: r.result, path: path, requestedPath: requested,
            flags: OpenFlags(rawValue: r.open_flags), mode: r.mode, dirfd: r.dirfd, count: max(r.count, 1),
            syscall: Syscall(rawValue: r.syscall) ?? .unknown,
            object: header.flags.contains(.object) ? FileObject(device: r.dev, inode: r.ino) : nil)
    }

    private static func decodeLink(_ record: UnsafeRawBufferPointer, _ header: EventHeader) throws(DecodeError) -> FileLink {
        let r = try load(probity_link.self, record, .link)
        var tail = Tail(bytes: record, offset: MemoryLayout<probity_link>.size)
        let old = PathText.string(try tail.take(Int(r.old_len), kind: .link))
        let new = PathText.string(try tail.take(Int(r.new_len), kind: .link))
        let newDir = PathText.string(try tail.take(Int(r.new_dir_len), kind: .link))
        let oldDir = PathText.string(try tail.take(Int(r.old_dir_len), kind: .link))
        let syscall = Syscall(rawValue: r.syscall) ?? .unknown
        let operation: FileLink.Operation = switch syscall {
        case .link, .linkat: .link
        case .symlink, .symlinkat: .symlink
        default: .rename
        }
        let source = operation == .symlink ? old : PathText.join(directory: oldDir, relative: old)
        return FileLink(
            header: header, result: r.result, operation: operation,
            destination: PathText.join(directory: newDir, relative: new), requestedDestination: new,
            source: source, requestedSource: old, callFlags: r.call_flags, syscall: syscall)
    }

    private static func decodeConnect(_ record: UnsafeRawBufferPointer, _ header: EventHeader) throws(DecodeError) -> NetworkConnect {
        let r = try load(probity_connect.self, record, .connect)
        let destination: SocketAddress
        let a = r.addr
        switch AddressFamily(rawValue: r.family) {
        case .inet:
            destination = .ipv4(address: (a.0, a.1, a.2, a.3), port: r.port)
        case .inet6:
            destination = .ipv6(
                address: [a.0, a.1, a.2, a.3, a.4, a.5, a.6, a.7, a.8, a.9, a.10, a.11, a.12, a.13, a.14, a.15],
                port: r.port)
        case .unix:
            let offset = MemoryLayout<probity_connect>.offset(of: \probity_connect.unix_path) ?? 0
            let length = min(Int(r.unix_path_len), Int(PROBITY_UNIX_PATH_MAX), record.count - offset)
            let bytes = UnsafeRawBufferPointer(rebasing: record[offset..<(offset + max(length, 0))])
            destination = .unix(path: PathText.unixSocketPath(bytes))
        case nil:
            throw DecodeError(reason: "unknown address family \(r.family)", recordSize: record.count, kind: header.kind.rawValue)
        }
        let family = destination.family
        return NetworkConnect(
            header: header, result: r.result, destination: destination,
            socketType: SocketType(rawValue: r.sock_type & 0xf) ?? .unknown,
            transport: TransportProtocol(raw: r.protocol, family: family), fd: r.fd,
            syscall: Syscall(rawValue: r.syscall) ?? .unknown)
    }
}

/// Limits applied on the Swift side of the kernel's bounds.
public enum Limits {
    /// argv entries kept per exec (the kernel keeps at most 4 KiB).
    public static let maxArguments = Int(PROBITY_ARGS_MAX)
}
