#if canImport(Glibc)
import Glibc
#endif

/// A Unix-domain socket address, for bind / connect / sendto (a leading NUL byte is the abstract
/// namespace).
struct UnixSocketAddress {
    private var storage = sockaddr_un()
    private let bytes: Int

    /// nil when `path` does not fit (108 bytes with its terminator).
    init?(_ path: [UInt8]) {
        guard path.count < MemoryLayout.size(ofValue: storage.sun_path) else { return nil }
        storage.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &storage.sun_path) { raw in for (i, b) in path.enumerated() { raw[i] = b } }
        bytes = path.count
    }

    init?(_ path: String) { self.init(Array(path.utf8)) }

    /// Calls `body` with the address and its length (the whole structure; for the abstract
    /// namespace, exactly the name's bytes).
    mutating func withSockaddr<T>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        let abstract = withUnsafeBytes(of: storage.sun_path) { $0.first == 0 }
        let length = abstract ? socklen_t(MemoryLayout<sa_family_t>.size + bytes) : socklen_t(MemoryLayout<sockaddr_un>.size)
        return withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) } }
    }
}
