#if canImport(Glibc)
import Glibc
#endif

/// Writes JSON text into a preallocated byte buffer and flushes it to a file descriptor in large
/// writes. Built for the event path: no `Codable`, no intermediate strings for numbers.
///
/// Not thread-safe: one writer per thread.
public final class JSONLineWriter {
    private var buffer: [UInt8] = []
    private let fd: Int32
    private let flushThreshold: Int
    /// Bytes that could not be written (the descriptor failed); a sink reports this, never hides it.
    public private(set) var writeErrors = 0
    public private(set) var lastWriteErrno: Int32 = 0

    /// A writer to `fd`, flushing once `flushThreshold` bytes are buffered.
    public init(fd: Int32, flushThreshold: Int = 1 << 20) {
        self.fd = fd
        self.flushThreshold = flushThreshold
        buffer.reserveCapacity(flushThreshold + 64 * 1024)
    }

    deinit { flushBuffer() }

    // MARK: Structure

    public func beginObject() { buffer.append(UInt8(ascii: "{")) }

    /// Closes the object and ends the line; flushes when the buffer is full enough.
    public func endLine() {
        if buffer.last == UInt8(ascii: ",") { buffer.removeLast() }
        buffer.append(UInt8(ascii: "}"))
        buffer.append(UInt8(ascii: "\n"))
        if buffer.count >= flushThreshold { flush() }
    }

    public func beginObject(key: String) {
        appendKey(key)
        buffer.append(UInt8(ascii: "{"))
    }

    public func endObject() {
        if buffer.last == UInt8(ascii: ",") { buffer.removeLast() }
        buffer.append(UInt8(ascii: "}"))
        buffer.append(UInt8(ascii: ","))
    }

    // MARK: Members

    public func field(_ key: String, _ value: String) {
        appendKey(key)
        appendString(value)
        buffer.append(UInt8(ascii: ","))
    }

    public func field<T: BinaryInteger>(_ key: String, _ value: T) {
        appendKey(key)
        appendInteger(value)
        buffer.append(UInt8(ascii: ","))
    }

    public func field(_ key: String, _ value: Bool) {
        appendKey(key)
        buffer.append(contentsOf: value ? Self.trueBytes : Self.falseBytes)
        buffer.append(UInt8(ascii: ","))
    }

    public func field(_ key: String, _ values: [String]) {
        appendKey(key)
        buffer.append(UInt8(ascii: "["))
        for (i, value) in values.enumerated() {
            if i > 0 { buffer.append(UInt8(ascii: ",")) }
            appendString(value)
        }
        buffer.append(UInt8(ascii: "]"))
        buffer.append(UInt8(ascii: ","))
    }

    public func field<T: BinaryInteger>(_ key: String, integers values: [T]) {
        appendKey(key)
        buffer.append(UInt8(ascii: "["))
        for (i, value) in values.enumerated() {
            if i > 0 { buffer.append(UInt8(ascii: ",")) }
            appendInteger(value)
        }
        buffer.append(UInt8(ascii: "]"))
        buffer.append(UInt8(ascii: ","))
    }

    /// A member whose value is already JSON text (bytes appended as they are).
    public func rawField(_ key: String, _ json: [UInt8]) {
        appendKey(key)
        buffer.append(contentsOf: json)
        buffer.append(UInt8(ascii: ","))
    }

    /// Writes everything buffered.
    public func flush() { flushBuffer() }

    /// The buffered bytes (tests).
    public var pendingBytes: [UInt8] { buffer }

    // MARK: Encoding

    private static let trueBytes = Array("true".utf8)
    private static let falseBytes = Array("false".utf8)
    private static let hexDigits = Array("0123456789abcdef".utf8)

    private func appendKey(_ key: String) {
        buffer.append(UInt8(ascii: "\""))
        var key = key
        key.withUTF8 { buffer.append(contentsOf: $0) }
        buffer.append(UInt8(ascii: "\""))
        buffer.append(UInt8(ascii: ":"))
    }

    /// A JSON string: quotes, backslashes and control characters escaped.
    func appendString(_ value: String) {
        buffer.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { utf8 in
            var start = 0
            for i in 0..<utf8.count {
                let byte = utf8[i]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                buffer.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<i]))
                buffer.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): buffer.append(byte)
                case 0x0a: buffer.append(UInt8(ascii: "n"))
                case 0x09: buffer.append(UInt8(ascii: "t"))
                case 0x0d: buffer.append(UInt8(ascii: "r"))
                default:
                    buffer.append(contentsOf: [UInt8(ascii: "u"), 0x30, 0x30, Self.hexDigits[Int(byte >> 4)], Self.hexDigits[Int(byte & 0xf)]])
                }
                start = i + 1
            }
            buffer.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<utf8.count]))
        }
        buffer.append(UInt8(ascii: "\""))
    }

    func appendInteger<T: BinaryInteger>(_ value: T) {
        if value == 0 {
            buffer.append(UInt8(ascii: "0"))
            return
        }
        var magnitude = value.magnitude
        if value < 0 { buffer.append(UInt8(ascii: "-")) }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // up to 24 digits, written backwards
        var count = 0
        withUnsafeMutableBytes(of: &digits) { raw in
            while magnitude > 0 && count < 24 {
                raw[23 - count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            }
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[(24 - count)..<24]))
        }
    }

    private func flushBuffer() {
        var offset = 0
        while offset < buffer.count {
            let n = buffer.withUnsafeBytes { raw in
                write(fd, raw.baseAddress.map { $0 + offset }, raw.count - offset)
            }
            if n < 0 {
                if errno == EINTR { continue }
                lastWriteErrno = errno
                writeErrors += buffer.count - offset
                break
            }
            offset += n
        }
        buffer.removeAll(keepingCapacity: true)
    }
}
