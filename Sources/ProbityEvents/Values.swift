/// Small value types that events carry: decoded open flags, socket addresses.

/// The `O_*` flags of an open, decoded into what the access means.
public struct OpenFlags: Sendable, Hashable {
    /// The flags exactly as passed.
    public var rawValue: Int32

    public init(rawValue: Int32) { self.rawValue = rawValue }

    private static let accessMask: Int32 = 0o3
    public var reads: Bool { rawValue & Self.accessMask != 0o1 }
    public var writes: Bool { rawValue & Self.accessMask != 0 }
    public var creates: Bool { rawValue & 0o100 != 0 }
    public var truncates: Bool { rawValue & 0o1000 != 0 }
    public var appends: Bool { rawValue & 0o2000 != 0 }
    public var isDirectory: Bool { rawValue & 0o200000 != 0 }
    /// `O_TMPFILE` (which includes `O_DIRECTORY`).
    public var isTemporary: Bool { rawValue & 0o20200000 == 0o20200000 }
    public var closeOnExec: Bool { rawValue & 0o2000000 != 0 }

    /// The decoded flags as words: `read`, `write`, `create`, `truncate`, `append`, `directory`, `tmpfile`.
    public var names: [String] {
        var out: [String] = []
        if reads { out.append("read") }
        if writes { out.append("write") }
        if creates { out.append("create") }
        if truncates { out.append("truncate") }
        if appends { out.append("append") }
        if isTemporary { out.append("tmpfile") } else if isDirectory { out.append("directory") }
        return out
    }
}

/// Address families Probity reports.
public enum AddressFamily: UInt16, Sendable, CustomStringConvertible {
    case unix = 1
    case inet = 2
    case inet6 = 10

    public var description: String {
        switch self {
        case .unix: "unix"
        case .inet: "ipv4"
        case .inet6: "ipv6"
        }
    }
}

/// A destination: an IP address and port, or a Unix socket path (`@name` for the abstract namespace).
public enum SocketAddress: Sendable, Hashable, CustomStringConvertible {
    case ipv4(address: (UInt8, UInt8, UInt8, UInt8), port: UInt16)
    case ipv6(address: [UInt8], port: UInt16)
    case unix(path: String)

    public var family: AddressFamily {
        switch self {
        case .ipv4: .inet
        case .ipv6: .inet6
        case .unix: .unix
        }
    }

    /// The address without the port: dotted IPv4, RFC 5952 IPv6, or the socket path.
    public var address: String {
        switch self {
        case .ipv4(let a, _): "\(a.0).\(a.1).\(a.2).\(a.3)"
        case .ipv6(let bytes, _): Self.formatIPv6(bytes)
        case .unix(let path): path
        }
    }

    public var port: UInt16? {
        switch self {
        case .ipv4(_, let p), .ipv6(_, let p): p
        case .unix: nil
        }
    }

    public var description: String {
        switch self {
        case .ipv4(_, let p): "\(address):\(p)"
        case .ipv6(_, let p): "[\(address)]:\(p)"
        case .unix(let path): path
        }
    }

    public static func == (lhs: SocketAddress, rhs: SocketAddress) -> Bool {
        lhs.description == rhs.description
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(description) }

    /// RFC 5952 text of a 16-byte IPv6 address (longest run of zero groups as `::`, lower case,
    /// IPv4-mapped addresses as `::ffff:a.b.c.d`).
    public static func formatIPv6(_ bytes: [UInt8]) -> String {
        guard bytes.count == 16 else { return "" }
        var groups = [UInt16](repeating: 0, count: 8)
        for i in 0..<8 { groups[i] = UInt16(bytes[2 * i]) << 8 | UInt16(bytes[2 * i + 1]) }
        if groups[0..<5].allSatisfy({ $0 == 0 }) && groups[5] == 0xffff {
            return "::ffff:\(bytes[12]).\(bytes[13]).\(bytes[14]).\(bytes[15])"
        }
        var bestStart = -1, bestLength = 0, runStart = -1
        for i in 0...8 {
            if i < 8 && groups[i] == 0 {
                if runStart < 0 { runStart = i }
            } else if runStart >= 0 {
                if i - runStart > bestLength && i - runStart >= 2 { bestStart = runStart; bestLength = i - runStart }
                runStart = -1
            }
        }
        func hex(_ range: Range<Int>) -> String {
            groups[range].map { String($0, radix: 16) }.joined(separator: ":")
        }
        if bestStart < 0 { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
    }
}

/// `SOCK_*` socket types.
public enum SocketType: UInt16, Sendable, CustomStringConvertible {
    case unknown = 0, stream = 1, datagram = 2, raw = 3, seqpacket = 5

    public var description: String {
        switch self {
        case .unknown: "unknown"
        case .stream: "stream"
        case .datagram: "dgram"
        case .raw: "raw"
        case .seqpacket: "seqpacket"
        }
    }
}

/// The transport protocol of a socket.
public enum TransportProtocol: Sendable, Hashable, CustomStringConvertible {
    case tcp, udp, icmp, icmpv6, unix, other(UInt16)

    init(raw: UInt16, family: AddressFamily) {
        if family == .unix { self = .unix; return }
        switch raw {
        case 6: self = .tcp
        case 17: self = .udp
        case 1: self = .icmp
        case 58: self = .icmpv6
        default: self = .other(raw)
        }
    }

    public var description: String {
        switch self {
        case .tcp: "tcp"
        case .udp: "udp"
        case .icmp: "icmp"
        case .icmpv6: "icmpv6"
        case .unix: "unix"
        case .other(let n): "proto\(n)"
        }
    }
}
