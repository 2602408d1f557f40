#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Who the command of `probity run` runs as: the user who invoked `sudo` (`SUDO_UID`,
/// `SUDO_GID`), the user named by `--user`, or else the current user. Whoever it is, the command
/// gets none of Probity's capabilities and runs with `no_new_privs` (GatedChild).
public struct CommandUser: Sendable, Equatable, CustomStringConvertible {
    public enum Source: String, Sendable { case sudo, option = "--user", current }
    public var uid: UInt32
    public var gid: UInt32
    /// Supplementary groups (those of the user's entry in the group database when switching).
    public var groups: [UInt32]
    public var name: String
    public var home: String
    public var source: Source

    /// uid 0: the command could undo Probity (signal it, leave its cgroup, ...).
    public var isRoot: Bool { uid == 0 }
    /// Whether the child must change its uid, gid and groups.
    public var changesUser: Bool { source != .current }

    public var description: String { "\(name) (uid \(uid), gid \(gid))" }

    /// The error when the user cannot be found or taken.
    public struct LookupError: Error, CustomStringConvertible {
        public var description: String
    }

    /// `--user` (a name or a uid) first, then `SUDO_UID`/`SUDO_GID` when this process is root,
    /// else the current user.
    public static func resolve(
        user: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(LookupError) -> CommandUser {
        if let user {
            if geteuid() != 0 {
                throw LookupError(description: "--user \(user): only root can run the command as another user")
            }
            if let entry = PasswordEntry(name: user) ?? UInt32(user).flatMap(PasswordEntry.init(uid:)) {
                return entry.commandUser(source: .option)
            }
            guard let uid = UInt32(user) else { throw LookupError(description: "--user \(user): no such user") }
            // A uid without an entry: its own group, no supplementary groups, no home.
            return CommandUser(uid: uid, gid: uid, groups: [uid], name: String(uid), home: "/", source: .option)
        }
        if geteuid() == 0, let sudoUID = environment["SUDO_UID"].flatMap(UInt32.init) {
            let entry = PasswordEntry(uid: sudoUID)
            let gid = environment["SUDO_GID"].flatMap(UInt32.init) ?? entry?.gid ?? sudoUID
            var resolved = entry?.commandUser(source: .sudo, gid: gid)
                ?? CommandUser(uid: sudoUID, gid: gid, groups: [gid], name: environment["SUDO_USER"] ?? String(sudoUID), home: "/", source: .sudo)
            resolved.gid = gid
            return resolved
        }
        let uid = getuid(), gid = getgid()
        let count = getgroups(0, nil)
        var groups = [gid_t](repeating: 0, count: Int(max(count, 0)))
        let n = getgroups(count, &groups)
        let entry = PasswordEntry(uid: uid)
        return CommandUser(
            uid: uid, gid: gid, groups: Array(groups.prefix(Int(max(n, 0)))), name: entry?.name ?? String(uid),
            home: environment["HOME"] ?? entry?.home ?? "/", source: .current)
    }

    /// The command's environment: this process's, with HOME, USER and LOGNAME of the user when it
    /// is another user.
    public func environment(from base: [String: String] = ProcessInfo.processInfo.environment) -> [String: String] {
        guard changesUser else { return base }
        var env = base
        env["HOME"] = home
        env["USER"] = name
        env["LOGNAME"] = name
        return env
    }
}

/// One entry of the password database (getpwnam_r / getpwuid_r).
struct PasswordEntry {
    var name: String
    var uid: UInt32
    var gid: UInt32
    var home: String

    init?(name: String) {
        guard let found = Self.lookup({ pw, buf, size, result in getpwnam_r(name, pw, buf, size, result) }) else { return nil }
        self = found
    }

    init?(uid: UInt32) {
        guard let found = Self.lookup({ pw, buf, size, result in getpwuid_r(uid, pw, buf, size, result) }) else { return nil }
        self = found
    }

    private init(name: String, uid: UInt32, gid: UInt32, home: String) {
        self.name = name
        self.uid = uid
        self.gid = gid
        self.home = home
    }

    private static func lookup(
        _ call: (UnsafeMutablePointer<passwd>, UnsafeMutablePointer<CChar>, Int, UnsafeMutablePointer<UnsafeMutablePointer<passwd>?>) -> Int32
    ) -> PasswordEntry? {
        var pw = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        let rc = buffer.withUnsafeMutableBufferPointer { call(&pw, $0.baseAddress!, $0.count, &result) }
        guard rc == 0, result != nil else { return nil }
        return PasswordEntry(
            name: String(cString: pw.pw_name), uid: pw.pw_uid, gid: pw.pw_gid,
            home: pw.pw_dir.map { String(cString: $0) } ?? "/")
    }

    /// The user with the groups initgroups(3) would give it (its entries in the group database).
    func commandUser(source: CommandUser.Source, gid: UInt32? = nil) -> CommandUser {
        let primary = gid ?? self.gid
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        while getgrouplist(name, primary, &groups, &count) < 0 {
            groups = [gid_t](repeating: 0, count: Int(count) + 16)
            count = Int32(groups.count)
        }
        return CommandUser(
            uid: uid, gid: primary, groups: Array(groups.prefix(Int(count))), name: name, home: home.isEmpty ? "/" : home,
            source: source)
    }
}
