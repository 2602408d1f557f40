#if canImport(Glibc)
import Glibc
#endif

/// Writes JSON text into a preallocated byte buffer and flushes it to a file descriptor in large
/// writes. Built for the event path: no `Codable`, no intermediate strings for numbers, keys are
/// `StaticString`s copied as bytes, and the buffer is raw memory (no exclusivity checks or
/// copy-on-write checks per byte appended).
///
/// Not thread-safe: one writer per thread.
public final class JSONLineWriter {
    private var storage: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    private var count = 0
    private let fd: Int32
    private let flushThreshold: Int
    /// Bytes that could not be written (the descriptor failed); a sink reports this, never hides it.
    public private(set) var writeErrors = 0
    public private(set) var lastWriteErrno: Int32 = 0

    /// A writer to `fd`, flushing once `flushThreshold` bytes are buffered.
    public init(fd: Int32, flushThreshold: Int = 1 << 20) {
        self.fd = fd
        self.flushThreshold = flushThreshold
        capacity = flushThreshold + 64 * 1024
        storage = .allocate(capacity: capacity)
    }

    deinit {
        flush()
        storage.deallocate()
    }

    // MARK: Structure

    public func beginObject() { byte(UInt8(ascii: "{")) }

    /// Closes the object and ends the line; flushes when the buffer is full enough.
    public func endLine() {
        dropTrailingComma()
        reserve(2)
        storage[count] = UInt8(ascii: "}")
        storage[count + 1] = UInt8(ascii: "\n")
        count += 2
        if count >= flushThreshold { flush() }
    }

    public func beginObject(key: StaticString) {
        appendKey(key)
        byte(UInt8(ascii: "{"))
    }

    public func endObject() {
        dropTrailingComma()
        byte(UInt8(ascii: "}"))
        byte(UInt8(ascii: ","))
    }

    // MARK: Members

    public func field(_ key: StaticString, _ value: String) {
        appendKey(key)
        appendString(value)
        byte(UInt8(ascii: ","))
    }

    /// `"key":null`.
    public func nullField(_ key: StaticString) {
        appendKey(key)
        let text: StaticString = "null"
        appendBytes(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
        byte(UInt8(ascii: ","))
    }

    public func field<T: BinaryInteger>(_ key: StaticString, _ value: T) {
        appendKey(key)
        appendInteger(value)
        byte(UInt8(ascii: ","))
    }

    public func field(_ key: StaticString, _ value: Bool) {
        appendKey(key)
        let text: StaticString = value ? "true" : "false"
        appendBytes(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
        byte(UInt8(ascii: ","))
    }

    public func field(_ key: StaticString, _ values: [String]) {
        appendKey(key)
        byte(UInt8(ascii: "["))
        for (i, value) in values.enumerated() {
            if i > 0 { byte(UInt8(ascii: ",")) }
            appendString(value)
        }
        byte(UInt8(ascii: "]"))
        byte(UInt8(ascii: ","))
    }

    /// Starts a list member; add elements with ``listWord(_:)`` and close it with ``endList()``.
    public func beginList(_ key: StaticString) {
        appendKey(key)
        byte(UInt8(ascii: "["))
    }

    /// One static string element of an open list.
    public func listWord(_ word: StaticString) {
        if count > 0 && storage[count - 1] != UInt8(ascii: "[") { byte(UInt8(ascii: ",")) }
        reserve(word.utf8CodeUnitCount + 2)
        storage[count] = UInt8(ascii: "\"")
        (storage + count + 1).update(from: word.utf8Start, count: word.utf8CodeUnitCount)
        count += word.utf8CodeUnitCount + 1
        storage[count] = UInt8(ascii: "\"")
        count += 1
    }

    public func endList() {
        byte(UInt8(ascii: "]"))
        byte(UInt8(ascii: ","))
    }

    /// A member whose value is written by `body` into at most `maximumBytes` of raw buffer space;
    /// `body` returns how many bytes it wrote. The caller guarantees the bytes are valid JSON.
    public func rawField(_ key: StaticString, maximumBytes: Int, _ body: (UnsafeMutablePointer<UInt8>) -> Int) {
        appendKey(key)
        reserve(maximumBytes)
        count += min(max(body(storage + count), 0), maximumBytes)
        byte(UInt8(ascii: ","))
    }

    /// Writes everything buffered.
    public func flush() {
        var offset = 0
        while offset < count {
            let n = write(fd, storage + offset, count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                lastWriteErrno = errno
                writeErrors += count - offset
                break
            }
            offset += n
        }
        count = 0
    }

    /// The buffered bytes (tests).
    public var pendingBytes: [UInt8] { Array(UnsafeBufferPointer(start: storage, count: count)) }

    /// Forgets the buffered bytes without writing them (a writer used to build a fragment).
    public func discard() { count = 0 }

    // MARK: Encoding

    private static let hexDigits: StaticString = "0123456789abcdef"

    @inline(__always)
    private func reserve(_ n: Int) {
        if count + n <= capacity { return }
        flush()
        if n > capacity {
            storage.deallocate()
            capacity = n
            storage = .allocate(capacity: capacity)
        }
    }

    @inline(__always)
    private func byte(_ b: UInt8) {
        reserve(1)
        storage[count] = b
        count += 1
    }

    @inline(__always)
    private func appendBytes(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        reserve(bytes.count)
        (storage + count).update(from: base.assumingMemoryBound(to: UInt8.self), count: bytes.count)
        count += bytes.count
    }

    private func dropTrailingComma() {
        if count > 0 && storage[count - 1] == UInt8(ascii: ",") { count -= 1 }
    }

    private func appendKey(_ key: StaticString) {
        reserve(key.utf8CodeUnitCount + 3)
        storage[count] = UInt8(ascii: "\"")
        (storage + count + 1).update(from: key.utf8Start, count: key.utf8CodeUnitCount)
        count += key.utf8CodeUnitCount + 1
        storage[count] = UInt8(ascii: "\"")
        storage[count + 1] = UInt8(ascii: ":")
        count += 2
    }

    /// A JSON string: quotes, backslashes and control characters escaped.
    func appendString(_ value: String) {
        if value.utf8.withContiguousStorageIfAvailable({ appendString(utf8: $0) }) == nil {
            var copy = value
            copy.withUTF8 { appendString(utf8: $0) }
        }
    }

    @inline(__always)
    private func appendString(utf8: UnsafeBufferPointer<UInt8>) {
        do {
            reserve(utf8.count * 6 + 2)
            storage[count] = UInt8(ascii: "\"")
            count += 1
            if !Self.needsEscaping(utf8) {
                copy(utf8, 0, utf8.count)
            } else {
                appendEscaped(utf8)
            }
            storage[count] = UInt8(ascii: "\"")
            count += 1
        }
    }

    /// Whether any byte is a control character, a quote or a backslash; eight bytes at a time.
    @inline(__always)
    static func needsEscaping(_ utf8: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = utf8.baseAddress else { return false }
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        var i = 0
        while i + 8 <= utf8.count {
            let w = UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)
            let control = (w &- ones &* 0x20) & ~w & highs
            let quote = ((w ^ (ones &* 0x22)) &- ones) & ~(w ^ (ones &* 0x22)) & highs
            let backslash = ((w ^ (ones &* 0x5c)) &- ones) & ~(w ^ (ones &* 0x5c)) & highs
            if control | quote | backslash != 0 { return true }
            i += 8
        }
        while i < utf8.count {
            let b = base[i]
            if b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") { return true }
            i += 1
        }
        return false
    }

    private func appendEscaped(_ utf8: UnsafeBufferPointer<UInt8>) {
        var start = 0
        for i in 0..<utf8.count {
            let b = utf8[i]
            guard b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") else { continue }
            copy(utf8, start, i)
            storage[count] = UInt8(ascii: "\\")
            count += 1
            switch b {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): storage[count] = b; count += 1
            case 0x0a: storage[count] = UInt8(ascii: "n"); count += 1
            case 0x09: storage[count] = UInt8(ascii: "t"); count += 1
            case 0x0d: storage[count] = UInt8(ascii: "r"); count += 1
            default:
                let hex = Self.hexDigits.utf8Start
                storage[count] = UInt8(ascii: "u")
                storage[count + 1] = UInt8(ascii: "0")
                storage[count + 2] = UInt8(ascii: "0")
                storage[count + 3] = hex[Int(b >> 4)]
                storage[count + 4] = hex[Int(b & 0xf)]
                count += 5
            }
            start = i + 1
        }
        copy(utf8, start, utf8.count)
    }

    /// Appends bytes that are already JSON (a cached fragment such as `"package":{...},`).
    public func appendRaw(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { appendBytes($0) }
    }

    @inline(__always)
    private func copy(_ utf8: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int) {
        guard to > from, let base = utf8.baseAddress else { return }
        (storage + count).update(from: base + from, count: to - from)
        count += to - from
    }

    func appendInteger<T: BinaryInteger>(_ value: T) {
        reserve(24)
        if value == 0 {
            storage[count] = UInt8(ascii: "0")
            count += 1
            return
        }
        if value < 0 {
            storage[count] = UInt8(ascii: "-")
            count += 1
        }
        var magnitude = UInt64(truncatingIfNeeded: value.magnitude)
        var digits = 0
        var probe = magnitude
        while probe > 0 { digits += 1; probe /= 10 }
        var i = count + digits - 1
        while magnitude > 0 {
            storage[i] = UInt8(ascii: "0") + UInt8(magnitude % 10)
            magnitude /= 10
            i -= 1
        }
        count += digits
    }
}
