#if canImport(Glibc)
import Glibc
#endif

/// Reading a whole file with POSIX calls, so a failure says what the system said (`No such file
/// or directory`, `Permission denied`) rather than a generic message.
public enum FileContents {
    /// A file that could not be read: the path, errno, and what was being done.
    public struct ReadError: Error, Sendable, CustomStringConvertible {
        public var path: String
        public var errno: Int32
        public var message: String

        public var description: String { "\(path): \(message)" }
    }

    /// The bytes of the file at `path`, refusing files larger than `limit` bytes and directories.
    public static func read(_ path: String, limit: Int = 64 << 20) throws(ReadError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw failure(path, errno, "cannot open") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw failure(path, errno, "cannot stat") }
        if (info.st_mode & S_IFMT) == S_IFDIR { throw ReadError(path: path, errno: EISDIR, message: "is a directory, not a file") }
        if Int(info.st_size) > limit {
            throw ReadError(path: path, errno: EFBIG, message: "\(info.st_size) bytes is larger than the \(limit)-byte limit")
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw failure(path, errno, "cannot read")
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
            if bytes.count > limit { throw ReadError(path: path, errno: EFBIG, message: "larger than the \(limit)-byte limit") }
        }
        return bytes
    }

    static func failure(_ path: String, _ code: Int32, _ doing: String) -> ReadError {
        ReadError(path: path, errno: code, message: "\(doing): \(String(cString: strerror(code)))")
    }
}
