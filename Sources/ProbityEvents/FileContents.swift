#if canImport(Glibc)
import Glibc
#endif

/// Reading a whole file with POSIX calls, so a failure says what the system said (`No such file
/// or directory`, `Permission denied`) rather than a generic message.
///
/// ``untrusted(_:limit:whole:)`` is for files anyone else may have written (a monitored process's
/// working directory, a package database under a scanned root): no link followed at the last
/// component, regular files only (a FIFO is refused without blocking), and never more than
/// `limit` bytes read, counted while reading.
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
        return try readCapped(fd: fd, limit: limit, whole: true, path: path)
    }

    /// The bytes of a file someone else may have written: opened with `O_NOFOLLOW | O_NONBLOCK |
    /// O_NOCTTY` (a symbolic link at the last component is refused, a FIFO does not block the
    /// caller), refused unless it is a regular file (checked with `fstat` on what was opened), and
    /// read to at most `limit` bytes: with `whole`, a longer file is an error; without, its first
    /// `limit` bytes are returned (headers of a file whose rest does not matter).
    public static func untrusted(_ path: String, limit: Int, whole: Bool = true) throws(ReadError) -> [UInt8] {
        let fd = try openUntrusted(path)
        defer { close(fd) }
        return try readCapped(fd: fd, limit: limit, whole: whole, path: path)
    }

    /// Opens a file someone else may have written for reading, as ``untrusted(_:limit:whole:)``
    /// does: never blocking, a regular file or an error; with `followingLinks` false (the default)
    /// a symbolic link at the last component is refused. The caller closes the descriptor.
    public static func openUntrusted(_ path: String, followingLinks: Bool = false) throws(ReadError) -> Int32 {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | (followingLinks ? 0 : O_NOFOLLOW))
        guard fd >= 0 else {
            let code = errno
            throw code == ELOOP
                ? ReadError(path: path, errno: code, message: "is a symbolic link (not followed)")
                : failure(path, code, "cannot open")
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let code = errno
            close(fd)
            throw failure(path, code, "cannot stat")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw ReadError(path: path, errno: EINVAL, message: "is \(kind(info.st_mode)), not a regular file")
        }
        return fd
    }

    /// Calls `body` with each chunk (up to 1 MiB) of `fd` until its end; more than `limit` bytes
    /// is an error as soon as the byte after the limit comes (what came before was given to `body`).
    public static func forEachChunk(
        fd: Int32, limit: Int, path: String, _ body: (UnsafeRawBufferPointer) -> Void
    ) throws(ReadError) {
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var total = 0
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw failure(path, errno, "cannot read")
            }
            if n == 0 { return }
            total += n
            if total > limit { throw ReadError(path: path, errno: EFBIG, message: "is larger than the \(limit)-byte limit") }
            chunk.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
    }

    /// Reads `fd` to its end, or to `limit` bytes: with `whole`, more than `limit` is an error as
    /// soon as the byte after the limit comes (a file that grows, or a sparse one, is never read
    /// past it).
    public static func readCapped(fd: Int32, limit: Int, whole: Bool, path: String) throws(ReadError) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: min(1 << 20, max(limit + 1, 1)))
        let cap = whole ? limit + 1 : limit
        while bytes.count < cap {
            let want = min(chunk.count, cap - bytes.count)
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, want) }
            if n < 0 {
                if errno == EINTR { continue }
                throw failure(path, errno, "cannot read")
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        if whole && bytes.count > limit { throw ReadError(path: path, errno: EFBIG, message: "is larger than the \(limit)-byte limit") }
        return bytes
    }

    /// What a file of mode `mode` is, in words (for refusals).
    public static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFIFO: "a FIFO"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFDIR: "a directory"
        case S_IFSOCK: "a socket"
        case S_IFLNK: "a symbolic link"
        default: "not a regular file"
        }
    }

    static func failure(_ path: String, _ code: Int32, _ doing: String) -> ReadError {
        ReadError(path: path, errno: code, message: "\(doing): \(String(cString: strerror(code)))")
    }
}
