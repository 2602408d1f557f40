#if canImport(Glibc)
import Glibc
#endif

/// Converts the kernel's `CLOCK_BOOTTIME` timestamps to wall-clock time and RFC 3339 text.
public struct WallClock: Sendable {
    /// `CLOCK_REALTIME - CLOCK_BOOTTIME` in ns.
    public let offsetNanoseconds: Int64
    private var cachedSecond: Int64 = -1
    private var cachedPrefix: [UInt8] = []

    /// A clock with the process's offset, measured once: every clock of a process gives one
    /// event the same time (a follower, the `events` answer and the export agree to the ns).
    public init() {
        offsetNanoseconds = Self.processOffset
    }

    private static let processOffset = measureOffset()

    private static func measureOffset() -> Int64 {
        var real = timespec(), boot = timespec()
        clock_gettime(CLOCK_REALTIME, &real)
        clock_gettime(CLOCK_BOOTTIME, &boot)
        return (Int64(real.tv_sec) - Int64(boot.tv_sec)) * 1_000_000_000 + Int64(real.tv_nsec - boot.tv_nsec)
    }

    /// The current `CLOCK_BOOTTIME` in ns.
    public static func bootTimeNow() -> UInt64 {
        var boot = timespec()
        clock_gettime(CLOCK_BOOTTIME, &boot)
        return UInt64(boot.tv_sec) * 1_000_000_000 + UInt64(boot.tv_nsec)
    }

    /// Unix time in ns of a boot-time stamp.
    public func unixNanoseconds(boot: UInt64) -> Int64 { Int64(bitPattern: boot) + offsetNanoseconds }

    /// Bytes ``writeRFC3339(boot:into:)`` writes at most.
    public static let rfc3339Length = 30

    /// Writes `2026-11-24T02:23:19.123456789Z` for a boot-time stamp into `out` (at least
    /// ``rfc3339Length`` bytes); returns the bytes written.
    public mutating func writeRFC3339(boot: UInt64, into out: UnsafeMutablePointer<UInt8>) -> Int {
        let unix = unixNanoseconds(boot: boot)
        let seconds = unix >= 0 ? unix / 1_000_000_000 : (unix - 999_999_999) / 1_000_000_000
        var nanos = unix - seconds * 1_000_000_000
        if seconds != cachedSecond {
            var t = time_t(seconds)
            var tm = tm()
            gmtime_r(&t, &tm)
            var text = [CChar](repeating: 0, count: 32)
            let n = strftime(&text, 32, "%Y-%m-%dT%H:%M:%S.", &tm)
            cachedPrefix = text[0..<n].map { UInt8(bitPattern: $0) }
            cachedSecond = seconds
        }
        let prefix = cachedPrefix.count
        cachedPrefix.withUnsafeBufferPointer { p in
            if let base = p.baseAddress { out.update(from: base, count: prefix) }
        }
        for i in stride(from: prefix + 8, through: prefix, by: -1) {
            out[i] = UInt8(ascii: "0") + UInt8(nanos % 10)
            nanos /= 10
        }
        out[prefix + 9] = UInt8(ascii: "Z")
        return prefix + 10
    }

    /// Appends the RFC 3339 text of a boot-time stamp to `out`.
    public mutating func appendRFC3339(boot: UInt64, to out: inout [UInt8]) {
        var bytes = [UInt8](repeating: 0, count: Self.rfc3339Length + 8)
        let n = bytes.withUnsafeMutableBufferPointer { p in
            p.baseAddress.map { writeRFC3339(boot: boot, into: $0) } ?? 0
        }
        out.append(contentsOf: bytes[0..<n])
    }

    /// RFC 3339 text of a boot-time stamp.
    public mutating func rfc3339(boot: UInt64) -> String {
        var bytes: [UInt8] = []
        appendRFC3339(boot: boot, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}
