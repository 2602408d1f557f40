#if canImport(Glibc)
import Glibc
#endif

/// nscd, glibc's name service cache daemon, answers a process's host lookups over a Unix socket,
/// from its cache when it can: a cached answer never crosses the wire, so ``DNSObserver`` does not
/// see it, and a connect to that address would match no `host` entry. Asking nscd to drop its
/// hosts cache when monitoring starts makes the next lookup of each name go out as DNS again.
///
/// Resolvers that forward over the network (systemd-resolved on 127.0.0.53, dnsmasq) need
/// nothing: their queries and answers pass over loopback, which the observer reads.
public enum NameServiceCache {
    /// What asking nscd did.
    public enum Outcome: Equatable, Sendable, CustomStringConvertible {
        /// No nscd socket on this machine: nothing to do.
        case absent
        /// nscd dropped its hosts cache.
        case invalidated
        /// nscd runs but could not be asked (the reason).
        case failed(String)

        /// Whether nscd runs and could not be asked.
        public var isFailure: Bool {
            if case .failed = self { return true }
            return false
        }

        public var description: String {
            switch self {
            case .absent: "no nscd"
            case .invalidated: "nscd's hosts cache dropped"
            case .failed(let why): "nscd's hosts cache could not be dropped: \(why)"
            }
        }
    }

    /// Runs `nscd --invalidate=hosts` when nscd's socket exists. Needs root (nscd checks).
    public static func invalidateHosts(
        socket: String = "/var/run/nscd/socket", programs: [String] = ["/usr/sbin/nscd", "/sbin/nscd", "/usr/bin/nscd"]
    ) -> Outcome {
        guard access(socket, F_OK) == 0 else { return .absent }
        guard let program = programs.first(where: { access($0, X_OK) == 0 }) else {
            return .failed("its socket \(socket) exists but no nscd program was found in \(programs.joined(separator: ", "))")
        }
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(program), strdup("--invalidate=hosts"), nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, program, nil, nil, argv, environ)
        guard spawned == 0 else { return .failed("\(program): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { return .failed("\(program): waitpid: \(String(cString: strerror(errno)))") }
        }
        let exited = status & 0x7f == 0
        let code = (status >> 8) & 0xff
        return exited && code == 0 ? .invalidated : .failed("\(program) --invalidate=hosts exited with status \(exited ? code : 128 + status & 0x7f)")
    }
}
