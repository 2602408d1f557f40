#if canImport(Glibc)
import Glibc
#endif
import CProbityBPF
import Foundation

/// A child process created stopped at a gate: it exists (so its pid can be put into the
/// followed tree) but has not executed its command yet. ``release()`` lets it `execvp`.
///
/// The child is forked before the monitor starts any thread, and between fork and exec it
/// only calls async-signal-safe functions on memory prepared before the fork.
public final class GatedChild {
    public let pid: pid_t
    private var gateFD: Int32
    private var reaped: Int32?

    /// The error when the command cannot be started.
    public struct LaunchError: Error, CustomStringConvertible {
        public var command: [String]
        public var errno: Int32
        public var description: String {
            "cannot start \(command.first ?? "(empty command)"): \(String(cString: strerror(errno)))"
        }
    }

    /// Forks a child that waits, then runs `command` (looked up in PATH, or `program` when given:
    /// the file to execute, with `command` its argv as typed) with this process's environment;
    /// with `user` (`probity run`), as that user with its environment, without any capability
    /// and with `no_new_privs`.
    public init(
        command: [String], program: String? = nil, user: CommandUser? = nil, environment: [String: String]? = nil
    ) throws(LaunchError) {
        guard !command.isEmpty else { throw LaunchError(command: command, errno: EINVAL) }
        // Everything the child reads between fork and exec is allocated here, before the fork.
        let envp: [UnsafeMutablePointer<CChar>?]? = environment.map { env in env.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer { for p in envp ?? [] { free(p) } }
        let identity = UnsafeMutablePointer<probity_child_identity>.allocate(capacity: 1)
        let groups = UnsafeMutablePointer<UInt32>.allocate(capacity: max(user?.groups.count ?? 0, 1))
        defer { identity.deallocate(); groups.deallocate() }
        if let user {
            for (i, g) in user.groups.enumerated() { groups[i] = g }
            identity.initialize(to: probity_child_identity(
                change_user: user.changesUser ? 1 : 0, uid: user.uid, gid: user.gid, groups: UnsafePointer(groups),
                group_count: user.groups.count, last_cap: Self.lastCapability()))
        }
        let dropPrivileges = user != nil
        let failureMessage = strdup("probity: cannot drop the command's privileges: ")!
        let newline = strdup("\n")!
        defer { free(failureMessage); free(newline) }
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw LaunchError(command: command, errno: errno) }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        let programCopy = program.map { strdup($0) }
        defer {
            for p in argv { free(p) }
            if let programCopy { free(programCopy) }
        }
        guard let program = programCopy ?? argv[0] else { throw LaunchError(command: command, errno: ENOMEM) }
        let readFD = fds[0], writeFD = fds[1]
        let child = fork()
        if child < 0 {
            let err = errno
            close(readFD); close(writeFD)
            throw LaunchError(command: command, errno: err)
        }
        if child == 0 {
            close(writeFD)
            var byte: UInt8 = 0
            while read(readFD, &byte, 1) < 0 && errno == EINTR {}
            if byte != 1 { _exit(125) }  // the monitor went away before releasing us
            if dropPrivileges {
                var step: UnsafePointer<CChar>?
                if probity_child_drop_privileges(identity, &step) != 0 {
                    _ = write(2, failureMessage, strlen(failureMessage))
                    if let step { _ = write(2, step, strlen(step)) }
                    _ = write(2, newline, 1)
                    _exit(126)
                }
            }
            argv.withUnsafeBufferPointer { p in
                guard let base = p.baseAddress else { return }
                if let envp {
                    envp.withUnsafeBufferPointer { e in _ = probity_child_exec(program, base, e.baseAddress) }
                } else {
                    _ = probity_child_exec(program, base, nil)
                }
            }
            let message = "probity: cannot execute the command\n"
            _ = message.withCString { write(2, $0, strlen($0)) }
            _exit(errno == ENOENT ? 127 : 126)
        }
        close(readFD)
        pid = child
        gateFD = writeFD
    }

    /// The highest capability number this kernel knows (63 when it cannot be read).
    static func lastCapability() -> Int32 {
        guard let text = try? String(contentsOfFile: "/proc/sys/kernel/cap_last_cap", encoding: .utf8),
              let n = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return 63 }
        return n
    }

    deinit {
        if gateFD >= 0 { close(gateFD) }
    }

    /// Lets the child run its command.
    public func release() {
        guard gateFD >= 0 else { return }
        var one: UInt8 = 1
        _ = write(gateFD, &one, 1)
        close(gateFD)
        gateFD = -1
    }

    /// Closes the gate without running the command: the child exits with 125.
    public func abandon() {
        guard gateFD >= 0 else { return }
        close(gateFD)
        gateFD = -1
        _ = wait()
    }

    /// Waits for the child and returns its wait status.
    @discardableResult
    public func wait() -> Int32 {
        if let reaped { return reaped }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        reaped = status
        return status
    }

    /// The shell convention for a wait status: the exit code, or 128 + the signal.
    public static func exitCode(fromWaitStatus status: Int32) -> Int32 {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}
