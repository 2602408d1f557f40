import ProbityAttribution
import ProbityEvents
import ProbityProcess

/// Writes events as JSON lines, in the schema documented in `docs/events.md`.
public final class EventJSONEncoder {
    private let writer: JSONLineWriter
    private var clock: WallClock

    /// An encoder writing to `fd` (1 for standard output).
    public init(fd: Int32, clock: WallClock = WallClock()) {
        writer = JSONLineWriter(fd: fd)
        self.clock = clock
    }

    /// An encoder that hands each event's line back (``line(_:process:attribution:)``) instead
    /// of writing it: for the daemon's followers, its `events` answer and the fleet export,
    /// which carry events in the same schema as `probity trace --json`.
    public convenience init(clock: WallClock = WallClock()) {
        self.init(fd: -1, clock: clock)
    }

    /// One event's JSON object, without the newline (an encoder made with ``init(clock:)``).
    public func line(_ event: Event, process: TrackedProcess?, attribution: Attribution? = nil) -> [UInt8] {
        write(event, process: process, attribution: attribution)
        var bytes = writer.pendingBytes
        writer.discard()
        if bytes.last == UInt8(ascii: "\n") { bytes.removeLast() }
        return bytes
    }

    /// Writes one event; `process` (from the process table) supplies `exe` for events other
    /// than exec.
    public func write(_ event: Event, process: TrackedProcess?, attribution: Attribution? = nil) {
        let flags: EventFlags
        switch event {
        case .exec(let e):
            flags = writeHeader(e.header)
            if !e.executable.isEmpty { writer.field("exe", e.executable) }
            writer.field("filename", e.filename)
            writer.field("argv", e.argv)
            writer.field("argc", e.argc)
            writer.field("cwd", e.cwd)
            writer.field("start_time", e.startTimeNanoseconds)
            writeResult(e.result)
            if e.isMemoryBacked { writer.field("memory_backed", true) }
            if e.isScript { writer.field("script", true) }
            if !e.environment.isEmpty { writer.field("env", e.environment) }
        case .fork(let f):
            flags = writeHeader(f.header)
            exe(process)
            writer.field("child_pid", f.childPID)
            writer.field("child_start_time", f.childStartTimeNanoseconds)
        case .exit(let x):
            flags = writeHeader(x.header)
            exe(process)
            writer.field("status", x.status)
            if let code = x.exitCode { writer.field("exit_code", code) }
            if let signal = x.signal { writer.field("signal", signal) }
        case .open(let o):
            flags = writeHeader(o.header)
            exe(process)
            writer.field("path", o.path)
            if o.requestedPath != o.path { writer.field("requested_path", o.requestedPath) }
            if let object = o.object {
                writer.field("device", object.device)
                writer.field("inode", object.inode)
            }
            writeFlags(o.flags)
            writer.field("flags_raw", o.flags.rawValue)
            if o.flags.creates { writer.field("mode", o.mode) }
            writer.field("syscall", o.syscall.description)
            writeResult(o.result)
            if o.count > 1 { writer.field("count", o.count) }
        case .unlink(let u):
            flags = writeHeader(u.header)
            exe(process)
            writer.field("path", u.path)
            if u.requestedPath != u.path { writer.field("requested_path", u.requestedPath) }
            if u.isDirectory { writer.field("directory", true) }
            writer.field("syscall", u.syscall.description)
            writeResult(u.result)
        case .connect(let c):
            flags = writeHeader(c.header)
            exe(process)
            writer.field("family", c.destination.family.description)
            writer.field("address", c.destination.address)
            if let port = c.destination.port { writer.field("port", port) }
            writer.field("protocol", c.transport.description)
            writer.field("socket_type", c.socketType.description)
            writer.field("syscall", c.syscall.description)
            writeResult(c.result)
        case .link(let l):
            flags = writeHeader(l.header)
            exe(process)
            writer.field("operation", l.operation.rawValue)
            writer.field("path", l.destination)
            if l.requestedDestination != l.destination { writer.field("requested_path", l.requestedDestination) }
            writer.field("source", l.source)
            if l.requestedSource != l.source { writer.field("requested_source", l.requestedSource) }
            if l.callFlags != 0 { writer.field("call_flags", l.callFlags) }
            writer.field("syscall", l.syscall.description)
            writeResult(l.result)
        case .memory(let m):
            flags = writeHeader(m.header)
            exe(process)
            writer.field("target_pid", m.targetPID)
            if m.request != 0 { writer.field("request", m.request) }
            writer.field("syscall", m.syscall.description)
            writeResult(m.result)
        case .abi(let a):
            flags = writeHeader(a.header)
            exe(process)
            writer.field("abi", a.abiName)
            writer.field("number", a.number)
        case .ioUring(let u):
            flags = writeHeader(u.header)
            exe(process)
            writer.field("operation", u.operation)
            writer.field("fd", u.fd)
            if u.syscall == .ioUringSetup {
                writer.field("sq_entries", u.submissionEntries)
                writer.field("cq_entries", u.completionEntries)
            }
        }
        if let attribution { writeAttribution(attribution) }
        if flags.rawValue & Self.truncationFlags.rawValue != 0 { writer.field("truncated", Self.truncationNames(flags)) }
        if flags.contains(.killed) { writer.field("killed", true) }
        writer.endLine()
    }

    private static let truncationFlags: EventFlags = [.pathTruncated, .dentryPathTruncated, .argvTruncated, .environmentTruncated]

    /// Opens the line with the members every event has; returns the header's flags.
    private func writeHeader(_ h: EventHeader) -> EventFlags {
        writer.beginObject()
        writer.field("kind", h.kind.description)
        writer.rawField("time", maximumBytes: WallClock.rfc3339Length + 2) { out in
            out[0] = UInt8(ascii: "\"")
            let n = clock.writeRFC3339(boot: h.bootTimeNanoseconds, into: out + 1)
            out[n + 1] = UInt8(ascii: "\"")
            return n + 2
        }
        writer.field("pid", h.pid)
        writer.field("tid", h.tid)
        writer.field("ppid", h.ppid)
        writer.field("uid", h.uid)
        writer.field("gid", h.gid)
        writer.field("cgroup", h.cgroupID)
        return h.flags
    }

    /// Writes everything buffered.
    public func flush() { writer.flush() }

    /// Bytes that could not be written to the descriptor.
    public var writeErrors: Int { writer.writeErrors }

    private func exe(_ process: TrackedProcess?) {
        if let exe = process?.executable, !exe.isEmpty { writer.field("exe", exe) }
    }

    /// `package` and `attribution`: the same for every event of a process, so encoded once per
    /// attribution and copied afterwards. The cache holds the objects it keys, so an identifier
    /// is never reused for another attribution while cached.
    private var attributionJSON: [ObjectIdentifier: (Attribution, [UInt8])] = [:]

    private func writeAttribution(_ a: Attribution) {
        if let (_, bytes) = attributionJSON[ObjectIdentifier(a)] {
            writer.appendRaw(bytes)
            return
        }
        let fragment = JSONLineWriter(fd: -1, flushThreshold: 1 << 16)
        Self.encodeAttribution(a, into: fragment)
        let bytes = fragment.pendingBytes
        fragment.discard()
        if attributionJSON.count >= 4096 { attributionJSON.removeAll(keepingCapacity: true) }
        attributionJSON[ObjectIdentifier(a)] = (a, bytes)
        writer.appendRaw(bytes)
    }

    private static func encodeAttribution(_ a: Attribution, into writer: JSONLineWriter) {
        if let p = a.package {
            writer.beginObject(key: "package")
            writer.field("name", p.name)
            if let version = p.version { writer.field("version", version) }
            if let purl = p.purl { writer.field("purl", purl) }
            writer.field("ecosystem", p.ecosystem)
            if let direct = p.isDirect { writer.field("direct", direct) }
            writer.field("source", p.source.rawValue)
            writer.endObject()
        }
        writer.beginObject(key: "attribution")
        writer.field("reason", a.reason.rawValue)
        if !a.evidence.isEmpty { writer.field("evidence", a.evidence) }
        if let exe = a.executablePackage { writer.field("executable_package", exe.name) }
        writer.endObject()
    }

    /// The decoded open flags, as `OpenFlags.names` spells them, without building an array.
    private func writeFlags(_ f: OpenFlags) {
        writer.beginList("flags")
        if f.reads { writer.listWord("read") }
        if f.writes { writer.listWord("write") }
        if f.creates { writer.listWord("create") }
        if f.truncates { writer.listWord("truncate") }
        if f.appends { writer.listWord("append") }
        if f.isTemporary { writer.listWord("tmpfile") } else if f.isDirectory { writer.listWord("directory") }
        writer.endList()
    }

    private func writeResult(_ result: Int64) {
        writer.field("result", result)
        if result < 0 { writer.field("error", ErrnoName.name(result)) }
    }

    static func truncationNames(_ flags: EventFlags) -> [String] {
        var out: [String] = []
        if flags.contains(.pathTruncated) { out.append("path") }
        if flags.contains(.dentryPathTruncated) { out.append("dentry_path") }
        if flags.contains(.argvTruncated) { out.append("argv") }
        if flags.contains(.environmentTruncated) { out.append("env") }
        return out
    }
}
