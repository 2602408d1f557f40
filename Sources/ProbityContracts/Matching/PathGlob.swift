/// A compiled path pattern: `*` matches within one path segment, `?` one character of a segment,
/// `**` as a whole segment any number of segments (zero included), everything else itself.
///
/// Patterns are compiled once, when a contract is loaded; matching works on the path's UTF-8
/// bytes without allocating. A class, so that trying a list of patterns costs one reference
/// count per pattern rather than one per array inside it.
public final class PathGlob: Sendable, Hashable, CustomStringConvertible {
    /// The pattern as written after variable expansion.
    public let pattern: String
    /// Relative to a package's directory (`{package}/...`).
    public let isRelative: Bool
    private let segments: [Segment]
    /// Bytes every match starts with (the pattern up to its first wildcard).
    let literalPrefix: [UInt8]

    enum Segment: Sendable, Hashable {
        /// `**`: any number of segments.
        case anySegments
        /// A segment without wildcards.
        case literal([UInt8])
        /// A segment with `*` / `?`.
        case wildcard([UInt8])
    }

    /// Compiles `pattern`; it must be absolute (start with `/`) or, for patterns relative to a
    /// package's directory, `relative` must be true.
    public init(_ pattern: String, relative: Bool = false) {
        self.pattern = pattern
        isRelative = relative
        var segments: [Segment] = []
        for part in pattern.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true) {
            let bytes = Array(part)
            if bytes == [42, 42] {
                if segments.last != .anySegments { segments.append(.anySegments) }
            } else if bytes.contains(42) || bytes.contains(63) {
                segments.append(.wildcard(bytes))
            } else {
                segments.append(.literal(bytes))
            }
        }
        self.segments = segments
        var prefix: [UInt8] = []
        for byte in pattern.utf8 where !relative {
            if byte == 42 || byte == 63 { break }
            prefix.append(byte)
        }
        // `/tmp/**` matches `/tmp` itself: the prefix stops before the last separator.
        if prefix.count < pattern.utf8.count, prefix.last == UInt8(ascii: "/") { prefix.removeLast() }
        literalPrefix = prefix
    }

    public var description: String { pattern }

    public static func == (lhs: PathGlob, rhs: PathGlob) -> Bool { lhs.pattern == rhs.pattern && lhs.isRelative == rhs.isRelative }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(pattern)
        hasher.combine(isRelative)
    }

    /// Whether the pattern has no wildcard at all.
    public var isLiteral: Bool { !segments.contains { if case .literal = $0 { false } else { true } } }

    /// Whether `path` matches the whole pattern.
    public func matches(_ path: String) -> Bool {
        var path = path
        return path.withUTF8 { matches(bytes: $0) }
    }

    /// Whether the UTF-8 `bytes` of a path match the whole pattern.
    public func matches(bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        matches(PathSegments(bytes))
    }

    /// Whether a path already split into segments matches: split once, test many patterns.
    public func matches(_ path: PathSegments) -> Bool {
        let bytes = path.bytes
        if bytes.count < literalPrefix.count { return false }
        for i in 0..<literalPrefix.count where bytes[i] != literalPrefix[i] { return false }
        return matchesAfterPrefix(path)
    }

    /// Whether `path`, whose bytes are known to begin with ``literalPrefix``, matches.
    func matchesAfterPrefix(_ path: PathSegments) -> Bool {
        match(segmentIndex: 0, pathIndex: path.ranges.startIndex, path: path.ranges, bytes: path.bytes)
    }

    private func match(segmentIndex: Int, pathIndex: Int, path: ArraySlice<Range<Int>>, bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var s = segmentIndex, p = pathIndex
        while s < segments.count {
            switch segments[s] {
            case .anySegments:
                if s == segments.count - 1 { return true }
                // Try every split, shortest first; depth is bounded by the path's segment count.
                for next in p...path.endIndex where match(segmentIndex: s + 1, pathIndex: next, path: path, bytes: bytes) {
                    return true
                }
                return false
            case .literal(let literal):
                guard p < path.endIndex, Self.equal(literal, bytes, path[p]) else { return false }
            case .wildcard(let pattern):
                guard p < path.endIndex, Self.wildcardMatch(pattern, bytes, path[p]) else { return false }
            }
            s += 1
            p += 1
        }
        return p == path.endIndex
    }

    private static func equal(_ literal: [UInt8], _ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Bool {
        guard literal.count == range.count else { return false }
        var i = range.lowerBound
        for byte in literal {
            if bytes[i] != byte { return false }
            i += 1
        }
        return true
    }

    /// `*` and `?` within one segment: the linear greedy algorithm with one backtrack point.
    static func wildcardMatch(_ pattern: [UInt8], _ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Bool {
        var p = 0, t = range.lowerBound
        var star = -1, resume = 0
        while t < range.upperBound {
            if p < pattern.count && (pattern[p] == 63 || pattern[p] == bytes[t]) {
                p += 1
                t += 1
            } else if p < pattern.count && pattern[p] == 42 {
                star = p
                resume = t
                p += 1
            } else if star >= 0 {
                p = star + 1
                resume += 1
                t = resume
            } else {
                return false
            }
        }
        while p < pattern.count && pattern[p] == 42 { p += 1 }
        return p == pattern.count
    }
}

/// A path's UTF-8 bytes and the ranges of its non-empty segments, valid while `bytes` is.
public struct PathSegments {
    public let bytes: UnsafeBufferPointer<UInt8>
    /// Segment ranges, indexed from 0.
    public private(set) var ranges: ArraySlice<Range<Int>>

    public init(_ bytes: UnsafeBufferPointer<UInt8>) {
        var ranges: [Range<Int>] = []
        ranges.reserveCapacity(16)
        self.init(bytes, reusing: &ranges)
    }

    /// Splits `bytes` into `scratch`, whose storage is reused from call to call (no allocation
    /// once it is large enough, as long as the previous PathSegments is gone).
    public init(_ bytes: UnsafeBufferPointer<UInt8>, reusing scratch: inout [Range<Int>]) {
        self.bytes = bytes
        scratch.removeAll(keepingCapacity: true)
        var start = 0
        for i in 0...bytes.count where i == bytes.count || bytes[i] == UInt8(ascii: "/") {
            if i > start { scratch.append(start..<i) }
            start = i + 1
        }
        ranges = scratch[...]
    }

    /// The same path without its first `count` segments (for patterns relative to a directory).
    public func dropping(_ count: Int) -> PathSegments {
        var copy = self
        copy.ranges = ranges.dropFirst(count)
        return copy
    }
}

/// A text pattern where `*` matches any characters (dots and slashes included) and `?` one;
/// case-insensitive. Used for hostnames (`*.pypi.org` matches `files.pypi.org` and
/// `a.b.pypi.org`, not `pypi.org`), package names and purls.
public struct TextPattern: Sendable, Hashable, CustomStringConvertible {
    public let pattern: String
    private let bytes: [UInt8]

    public init(_ pattern: String) {
        self.pattern = pattern.lowercased()
        bytes = Array(self.pattern.utf8)
    }

    public var description: String { pattern }

    public func matches(_ text: String) -> Bool {
        var text = text.lowercased()
        if text.hasSuffix(".") { text.removeLast() }
        return text.withUTF8 { PathGlob.wildcardMatch(bytes, $0, 0..<$0.count) }
    }
}
