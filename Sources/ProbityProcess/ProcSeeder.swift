#if canImport(Glibc)
import Glibc
#endif
import ProbityEvents

/// Reads the processes already running from /proc, to seed a ``ProcessTable`` at start.
///
/// Processes can exit while they are read; those are skipped. /proc is only for this seeding:
/// everything after start comes from the kernel's events, which do not race with exits.
public enum ProcSeeder {
    /// Every process in `procRoot` (default /proc) that could be read.
    public static func snapshot(procRoot: String = "/proc") -> [TrackedProcess] {
        guard let dir = opendir(procRoot) else { return [] }
        defer { closedir(dir) }
        let ticks = UInt64(max(sysconf(Int32(_SC_CLK_TCK)), 1))
        var out: [TrackedProcess] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard let pid = Int32(name), pid > 0 else { continue }
            if let info = read(pid: pid, procRoot: procRoot, ticksPerSecond: ticks) { out.append(info) }
        }
        return out
    }

    /// One process, or nil if it is gone or unreadable.
    public static func read(pid: Int32, procRoot: String = "/proc", ticksPerSecond: UInt64 = 100) -> TrackedProcess? {
        let base = "\(procRoot)/\(pid)"
        guard let statText = readFile(base + "/stat"), let fields = parseStat(statText) else { return nil }
        var info = TrackedProcess(pid: pid, ppid: fields.ppid, seededFromProc: true)
        info.startTimeNanoseconds = fields.startTicks * (1_000_000_000 / ticksPerSecond)
        info.executable = readLink(base + "/exe") ?? ""
        info.cwd = readLink(base + "/cwd") ?? ""
        if let cmdline = readFile(base + "/cmdline") {
            info.argv = cmdline.split(separator: 0, omittingEmptySubsequences: false).map {
                String(decoding: $0, as: UTF8.self)
            }
            if info.argv.last == "" { info.argv.removeLast() }
            info.argv = SecretRedaction.redact(info.argv)
        }
        var st = stat()
        if stat(base, &st) == 0 { info.uid = st.st_uid }
        return info
    }

    /// ppid and start time (clock ticks since boot) from the text of /proc/PID/stat.
    /// The command name (field 2) may hold spaces and parentheses: fields are counted from the
    /// last ')'.
    public static func parseStat(_ bytes: [UInt8]) -> (ppid: Int32, startTicks: UInt64)? {
        guard let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let rest = bytes[(close + 1)...].split(separator: UInt8(ascii: " "))
        // rest[0] is field 3 (state); ppid is field 4, starttime field 22.
        guard rest.count > 19,
              let ppid = Int32(String(decoding: rest[1], as: UTF8.self)),
              let start = UInt64(String(decoding: rest[19], as: UTF8.self))
        else { return nil }
        return (ppid, start)
    }

    static func readFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, 4096) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            out.append(contentsOf: chunk[0..<n])
            if out.count > 1 << 20 { break }
        }
        return out
    }

    static func readLink(_ path: String) -> String? {
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = buffer.withUnsafeMutableBytes { raw -> Int in
            guard let base = raw.baseAddress else { return -1 }
            return readlink(path, base.assumingMemoryBound(to: CChar.self), raw.count - 1)
        }
        guard n >= 0 else { return nil }
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }
}
