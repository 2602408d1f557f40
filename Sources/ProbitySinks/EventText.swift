import ProbityAttribution
import ProbityEvents
import ProbityProcess

/// One readable line per event, for `probity trace` without `--json`. Paths, argv, names and
/// socket paths come from the code under watch: each goes through ``TerminalText/safe(_:)``, so a
/// line holds no control character and no escape sequence, and is one line.
public enum EventText {
    /// The line for `event` (without its newline).
    public static func line(_ event: Event, process: TrackedProcess?, attribution: Attribution? = nil, clock: inout WallClock) -> String {
        let h = event.header
        let time = clock.rfc3339(boot: h.bootTimeNanoseconds)
        let who = "\(h.pid)<\(h.ppid) uid=\(h.uid)"
        let exe = TerminalText.safe(process?.executable ?? "")
        let safe: (String) -> String = TerminalText.safe
        func result(_ r: Int64) -> String { r < 0 ? ErrnoName.name(r) : "\(r)" }
        let detail: String
        switch event {
        case .exec(let e):
            let args = e.argv.map { $0.contains(" ") ? "'\(safe($0))'" : safe($0) }.joined(separator: " ")
            detail = "exec \(safe(e.executable.isEmpty ? e.filename : e.executable)) [\(args)] cwd=\(safe(e.cwd))"
                + (e.succeeded ? "" : " -> \(result(e.result))") + (e.isMemoryBacked ? " (memory-backed)" : "")
        case .fork(let f):
            detail = "fork -> \(f.childPID) \(exe)"
        case .exit(let x):
            detail = "exit " + (x.signal.map { "signal \($0)" } ?? "code \(x.exitCode ?? 0)") + " \(exe)"
        case .open(let o):
            detail = "open \(safe(o.path)) [\(o.flags.names.joined(separator: ","))] -> \(result(o.result))"
                + (o.count > 1 ? " x\(o.count)" : "") + " \(exe)"
        case .connect(let c):
            detail = "\(c.syscall) \(c.transport) \(safe(c.destination.description)) -> \(result(c.result)) \(exe)"
        case .ioUring(let u):
            detail = "io_uring \(u.operation) fd=\(u.fd) \(exe)"
        case .unlink(let u):
            detail = "\(u.syscall) \(safe(u.path)) -> \(result(u.result)) \(exe)"
        case .link(let l):
            detail = "\(l.syscall) \(safe(l.source)) -> \(safe(l.destination)) -> \(result(l.result)) \(exe)"
        case .memory(let m):
            detail = "\(m.syscall) pid \(m.targetPID) -> \(result(m.result)) \(exe)"
        case .abi(let a):
            detail = "syscall \(a.number) through the \(a.abiName) ABI (unmonitored) \(exe)"
        }
        let package = attribution?.package.map { " [\(safe($0.name))\($0.version.map { "@\(safe($0))" } ?? "") \(attribution?.reason.rawValue ?? "")]" } ?? ""
        return "\(time) \(who) \(detail)\(package)"
    }
}
