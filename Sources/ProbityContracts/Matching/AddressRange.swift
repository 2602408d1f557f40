#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbityEvents

/// An IPv4 or IPv6 network in CIDR notation (`10.0.0.0/8`, `fd00::/8`, or one address).
/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) match IPv4 networks.
public struct AddressRange: Sendable, Hashable, CustomStringConvertible {
    /// 4 or 16 bytes.
    public let network: [UInt8]
    public let prefixLength: Int

    /// Parses `text`; nil when it is not an address or a CIDR with a valid prefix length.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = Self.parseAddress(String(parts[0])) else { return nil }
        let maxLength = address.count * 8
        var length = maxLength
        if parts.count == 2 {
            guard let n = Int(parts[1]), (0...maxLength).contains(n) else { return nil }
            length = n
        }
        prefixLength = length
        network = Self.masked(address, length)
    }

    public var description: String {
        let text = network.count == 4
            ? network.map(String.init).joined(separator: ".")
            : SocketAddress.formatIPv6(network)
        return "\(text)/\(prefixLength)"
    }

    /// Whether `address` lies in the network.
    public func contains(_ address: SocketAddress) -> Bool {
        switch address {
        case .ipv4(let a, _):
            return contains([a.0, a.1, a.2, a.3])
        case .ipv6(let bytes, _):
            if network.count == 4, bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff {
                return contains(Array(bytes[12..<16]))
            }
            return contains(bytes)
        case .unix:
            return false
        }
    }

    func contains(_ bytes: [UInt8]) -> Bool {
        guard bytes.count == network.count else { return false }
        return Self.masked(bytes, prefixLength) == network
    }

    public static func masked(_ bytes: [UInt8], _ length: Int) -> [UInt8] {
        var out = bytes
        for i in 0..<out.count {
            let bits = max(0, min(8, length - i * 8))
            out[i] &= bits == 0 ? 0 : UInt8(truncatingIfNeeded: 0xff << (8 - bits))
        }
        return out
    }

    static func parseAddress(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }
}

/// A port or an inclusive range of ports (`443`, `8000-8999`).
public struct PortRange: Sendable, Hashable, CustomStringConvertible {
    public let lower: UInt16
    public let upper: UInt16

    public init?(_ text: String) {
        let parts = text.split(separator: "-", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
        guard let first = parts.first, let lower = UInt16(first) else { return nil }
        let upper = parts.count == 2 ? UInt16(parts[1]) : lower
        guard let upper, lower <= upper else { return nil }
        self.lower = lower
        self.upper = upper
    }

    public var description: String { lower == upper ? "\(lower)" : "\(lower)-\(upper)" }

    public func contains(_ port: UInt16) -> Bool { port >= lower && port <= upper }
}
