#if canImport(Glibc)
import Glibc
#endif

/// Converts the kernel's `CLOCK_BOOTTIME` timestamps to wall-clock time and RFC 3339 text.
public struct WallClock: Sendable {
    /// `CLOCK_REALTIME - CLOCK_BOOTTIME` in ns, measured when the clock was created.
    public let offsetNanoseconds: Int64
    private var cachedSecond: Int64 = -1
    private var cachedPrefix: [UInt8] = []

    public init() {
        var real = timespec(), boot = timespec()
        clock_gettime(CLOCK_REALTIME, &real)
        clock_gettime(CLOCK_BOOTTIME, &boot)
        offsetNanoseconds = (Int64(real.tv_sec) - Int64(boot.tv_sec)) * 1_000_000_000 + Int64(real.tv_nsec - boot.tv_nsec)
    }

    /// The current `CLOCK_BOOTTIME` in ns.
    public static func bootTimeNow() -> UInt64 {
        var boot = timespec()
        clock_gettime(CLOCK_BOOTTIME, &boot)
        return UInt64(boot.tv_sec) * 1_000_000_000 + UInt64(boot.tv_nsec)
    }

    /// Unix time in ns of a boot-time stamp.
    public func unixNanoseconds(boot: UInt64) -> Int64 { Int64(bitPattern: boot) + offsetNanoseconds }

    /// `2026-11-24T02:23:19.123456789Z` for a boot-time stamp, as UTF-8 bytes appended to `out`.
    public mutating func appendRFC3339(boot: UInt64, to out: inout [UInt8]) {
        let unix = unixNanoseconds(boot: boot)
        let seconds = unix >= 0 ? unix / 1_000_000_000 : (unix - 999_999_999) / 1_000_000_000
        let nanos = unix - seconds * 1_000_000_000
        if seconds != cachedSecond {
            var t = time_t(seconds)
            var tm = tm()
            gmtime_r(&t, &tm)
            var text = [CChar](repeating: 0, count: 32)
            let n = strftime(&text, 32, "%Y-%m-%dT%H:%M:%S.", &tm)
            cachedPrefix = text[0..<n].map { UInt8(bitPattern: $0) }
            cachedSecond = seconds
        }
        out.append(contentsOf: cachedPrefix)
        var digits = [UInt8](repeating: UInt8(ascii: "0"), count: 9)
        var n = nanos
        for i in stride(from: 8, through: 0, by: -1) {
            digits[i] = UInt8(ascii: "0") + UInt8(n % 10)
            n /= 10
        }
        out.append(contentsOf: digits)
        out.append(UInt8(ascii: "Z"))
    }

    /// RFC 3339 text of a boot-time stamp.
    public mutating func rfc3339(boot: UInt64) -> String {
        var bytes: [UInt8] = []
        appendRFC3339(boot: boot, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}
