#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbityEvents

/// Reads the SBOM files a control client names (`load-sbom`): only inside the configured
/// directories (`sbom-directories`), never through a symbolic link below them (each component is
/// opened with `O_NOFOLLOW`), regular files only (checked with `fstat` on what was opened, so a
/// FIFO or a device is refused without blocking), and at most `maximumBytes`, counted while
/// reading (a file that grows, or a sparse one, is cut at the limit).
public struct SBOMFileGate: Sendable {
    /// Absolute directories, without a trailing slash.
    public let directories: [String]
    public let maximumBytes: Int

    public init(directories: [String], maximumBytes: Int) {
        self.directories = directories.map { $0.count > 1 && $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        self.maximumBytes = maximumBytes
    }

    /// The file's bytes, or an error that names the path and what is wrong.
    public func read(_ path: String) throws(SBOMFileError) -> Data {
        guard !directories.isEmpty else {
            throw SBOMFileError(path: path, errno: EACCES, message: "load-sbom is off: no sbom-directories are configured")
        }
        let components = path.split(separator: "/", omittingEmptySubsequences: false)
        guard path.hasPrefix("/"), !components.dropFirst().contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
            throw SBOMFileError(path: path, errno: EINVAL, message: "must be an absolute path without empty, `.` or `..` components")
        }
        guard let directory = directories.first(where: { path.hasPrefix($0 == "/" ? "/" : $0 + "/") && path.count > $0.count + 1 }) else {
            throw SBOMFileError(
                path: path, errno: EACCES,
                message: "is outside the sbom-directories (\(directories.joined(separator: ", "))): load-sbom reads only from there")
        }
        let relative = path.dropFirst(directory == "/" ? 1 : directory.count + 1).split(separator: "/").map(String.init)
        var fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw SBOMFileError(path: path, errno: errno, message: "cannot open the directory \(directory)") }
        // Walk down without following links: a link anywhere below the directory could lead out of it.
        for (i, name) in relative.enumerated() {
            let last = i == relative.count - 1
            let flags = last ? O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC : O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC
            let next = openat(fd, name, flags)
            let err = errno
            close(fd)
            guard next >= 0 else {
                let message: String
                switch err {
                case ELOOP: message = last ? "is a symbolic link (refused: load-sbom does not follow links)" : "goes through \(name), a symbolic link (refused: load-sbom does not follow links)"
                case ENOTDIR: message = "goes through \(name), which is not a directory (a symbolic link?)"
                case ENOENT: message = "does not exist"
                default: message = "cannot be opened"
                }
                throw SBOMFileError(path: path, errno: err, message: message)
            }
            fd = next
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw SBOMFileError(path: path, errno: errno, message: "cannot be examined") }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw SBOMFileError(path: path, errno: EINVAL, message: "is \(Self.kind(info.st_mode)), not a regular file")
        }
        return try Self.readCapped(fd: fd, maximumBytes: maximumBytes, path: path)
    }

    /// Reads `fd` to its end, failing as soon as more than `maximumBytes` came.
    static func readCapped(fd: Int32, maximumBytes: Int, path: String) throws(SBOMFileError) -> Data {
        do {
            return Data(try FileContents.readCapped(fd: fd, limit: maximumBytes, whole: true, path: path))
        } catch {
            if error.errno == EFBIG {
                throw SBOMFileError(path: path, errno: EFBIG, message: "is larger than the \(maximumBytes)-byte limit (sbom-max-bytes)")
            }
            throw SBOMFileError(path: path, errno: error.errno, message: "cannot be read")
        }
    }

    static func kind(_ mode: mode_t) -> String { FileContents.kind(mode) }
}

/// A refused or unreadable SBOM file: the path, errno and what is wrong.
public struct SBOMFileError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var errno: Int32
    public var message: String
    public var description: String { "\(path): \(message) (\(String(cString: strerror(errno))))" }
}
