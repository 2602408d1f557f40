#if canImport(Glibc)
import Glibc
#endif
import ProbityAttribution
import ProbityEvents

/// The DNS servers this machine's resolver asks: the `nameserver` lines of `/etc/resolv.conf`,
/// read the way glibc reads them (res_init). Contracts name them as `{resolvers}` in `cidr`
/// lists, and the DNS observer believes answers only from them.
///
/// glibc's rules, kept here: a line counts when it starts with the word `nameserver` followed by
/// a blank; the address is the next word (anything after it is ignored); IPv6 addresses may carry
/// a scope (`fe80::1%eth0`); lines starting with `#` or `;` are comments; only the first three
/// servers are used (MAXNS); with none, the resolver asks 127.0.0.1. The file is untrusted input:
/// anything else is skipped and reported in ``problems``, never fatal.
public struct ResolverConfiguration: Sendable, Hashable {
    /// One `nameserver` line.
    public struct Nameserver: Sendable, Hashable, CustomStringConvertible {
        /// 4 bytes (IPv4) or 16 (IPv6), network order.
        public var address: [UInt8]
        /// The IPv6 scope (`eth0` in `fe80::1%eth0`), if written.
        public var scope: String?

        /// The address as `SocketAddress.address` writes it (dotted quad, RFC 5952), without the scope.
        public var text: String {
            address.count == 4 ? address.map(String.init).joined(separator: ".") : SocketAddress.formatIPv6(address)
        }

        /// The address as a one-address network, for `cidr` matching.
        public var range: AddressRange? { AddressRange(text) }

        public var description: String { scope.map { "\(text)%\($0)" } ?? text }
    }

    /// The servers the resolver asks, in file order, at most ``maximumServers``.
    public var nameservers: [Nameserver]
    /// Whether no usable `nameserver` line was found, so that ``nameservers`` is glibc's default.
    public var isDefault: Bool
    /// Lines skipped, each as `line N: why`.
    public var problems: [String]

    /// glibc's MAXNS: servers after the third are never asked.
    public static let maximumServers = 3
    /// What glibc asks when resolv.conf names no server.
    public static let defaultServer = Nameserver(address: [127, 0, 0, 1], scope: nil)
    /// Bytes of the file read at most (resolv.conf is a few hundred bytes).
    public static let fileLimit = 64 << 10
    /// Characters of a line looked at: glibc reads lines into a buffer of this size and a longer
    /// `nameserver` line is not a valid address anyway.
    static let lineLimit = 1024

    public init(nameservers: [Nameserver], isDefault: Bool = false, problems: [String] = []) {
        self.nameservers = nameservers
        self.isDefault = isDefault
        self.problems = problems
    }

    /// The networks `{resolvers}` stands for: one address per server.
    public var addressRanges: [AddressRange] { nameservers.compactMap(\.range) }

    /// The server addresses as `SocketAddress.address` writes them (the DNS observer's form).
    public var serverAddresses: [String] { nameservers.map(\.text) }

    /// Reads `path`; a missing or unreadable file is glibc's default (127.0.0.1), with the reason
    /// in ``problems``.
    public static func load(_ path: String = "/etc/resolv.conf") -> ResolverConfiguration {
        let bytes: [UInt8]
        do {
            bytes = try FileContents.read(path, limit: fileLimit)
        } catch {
            return ResolverConfiguration(nameservers: [defaultServer], isDefault: true, problems: ["\(path): \(error.message)"])
        }
        return parse(String(decoding: bytes, as: UTF8.self))
    }

    /// Parses resolv.conf `text`.
    public static func parse(_ text: String) -> ResolverConfiguration {
        var servers: [Nameserver] = []
        var problems: [String] = []
        var number = 0
        let keyword = Array("nameserver".utf8)
        func blank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0D }
        // Bytes, as glibc reads them: "\r\n" is one Character in Swift, two bytes here.
        for line in text.utf8.split(separator: 0x0A, omittingEmptySubsequences: false) {
            number += 1
            guard line.starts(with: keyword) else { continue }  // comments, other options, blank lines
            let rest = line.dropFirst(keyword.count)
            if let first = rest.first, !blank(first) { continue }  // `nameserverX`
            guard line.count <= lineLimit else {
                problems.append("line \(number): longer than \(lineLimit) bytes")
                continue
            }
            let word = rest.drop(while: blank).prefix { !blank($0) }
            guard !word.isEmpty else {
                problems.append("line \(number): `nameserver` without an address")
                continue
            }
            let text = String(decoding: word, as: UTF8.self)
            guard let server = nameserver(text) else {
                problems.append("line \(number): not an IPv4 or IPv6 address: \(text.prefix(64))")
                continue
            }
            guard servers.count < maximumServers else {
                problems.append("line \(number): more than \(maximumServers) servers; the resolver never asks \(server)")
                continue
            }
            servers.append(server)
        }
        if servers.isEmpty { return ResolverConfiguration(nameservers: [defaultServer], isDefault: true, problems: problems) }
        return ResolverConfiguration(nameservers: servers, problems: problems)
    }

    /// `a.b.c.d`, or an IPv6 address with an optional `%scope`.
    static func nameserver(_ word: String) -> Nameserver? {
        var v4 = in_addr()
        if inet_pton(AF_INET, word, &v4) == 1 {
            return Nameserver(address: withUnsafeBytes(of: &v4) { Array($0) }, scope: nil)
        }
        let parts = word.split(separator: "%", maxSplits: 1, omittingEmptySubsequences: false)
        var scope: String?
        if parts.count == 2 {
            let name = parts[1]
            // An interface name (IFNAMSIZ - 1 bytes, no `/`) or a number.
            guard !name.isEmpty, name.utf8.count < 16, !name.contains("/"),
                  name.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value < 0x7F }) else { return nil }
            scope = String(name)
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, String(parts[0]), &v6) == 1 else { return nil }
        return Nameserver(address: withUnsafeBytes(of: &v6) { Array($0) }, scope: scope)
    }
}
