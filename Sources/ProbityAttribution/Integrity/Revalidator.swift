#if canImport(Glibc)
import Glibc
#endif
import Crypto
import Foundation
import ProbityEvents
import Synchronization

/// Continuous re-validation: files that packages own are hashed when they are executed or loaded
/// (executables, shared libraries, Python and Node modules) and compared with the digest their
/// package database or SBOM records. A file is hashed once per (device, inode, size, mtime,
/// ctime): an unchanged file costs a `stat`. Hashing happens on its own thread, fed by a bounded
/// queue, so the pipeline never waits for a disk.
public final class Revalidator: @unchecked Sendable {
    // Safety: `cache` belongs to the worker thread; the queue is behind its mutex.

    /// What a check found wrong.
    public struct Finding: Sendable {
        public var path: String
        /// `hash-mismatch`, `unlisted` (a file in an approved scope that the approved set does not
        /// list), or a rule of the caller's (`unlisted-executable`, `new-pth`).
        public var rule: String
        public var message: String
        public var pid: Int32
        public var executable: String
        /// The expected and the found digest (hex), and where the expected one came from.
        public var expected: String?
        public var found: String?
        public var source: String?
        /// The uid of the process that made the finding, when it came from an event (retention per uid).
        public var uid: UInt32?

        public init(path: String, rule: String, message: String, pid: Int32, executable: String,
                    expected: String? = nil, found: String? = nil, source: String? = nil, uid: UInt32? = nil) {
            self.path = path
            self.rule = rule
            self.message = message
            self.pid = pid
            self.executable = executable
            self.expected = expected
            self.found = found
            self.source = source
            self.uid = uid
        }
    }

    struct FileIdentity: Hashable {
        var device: UInt64, inode: UInt64, size: Int64, mtime: Int64, ctime: Int64
    }

    public let digests: DigestIndex
    /// Directories whose every executed or loaded file must be listed (`probity approve`'s roots:
    /// "listed files only"); a file under one that the digests do not list is `unlisted`.
    public let scopes: [String]
    private let report: @Sendable (Finding) -> Void
    private let queue = Mutex<[(path: String, pid: Int32, executable: String)]>([])
    /// Signalled when the queue goes from empty to not empty, and to stop.
    private let work = DispatchSemaphore(value: 0)
    private let stopped = DispatchSemaphore(value: 0)
    private let running = Atomic<Bool>(false)
    private var cache: [FileIdentity: Bool] = [:]
    public let hashed = Atomic<UInt64>(0)
    public let skippedUnchanged = Atomic<UInt64>(0)
    public let dropped = Atomic<UInt64>(0)
    /// Items taken from the queue and checked (for ``waitUntilIdle(timeout:)``).
    private let checked = Atomic<UInt64>(0)
    private let accepted = Atomic<UInt64>(0)
    static let queueLimit = 4096

    public init(digests: DigestIndex, scopes: [String] = [], report: @escaping @Sendable (Finding) -> Void) {
        self.digests = digests
        self.scopes = scopes.map { $0.hasSuffix("/") ? $0 : $0 + "/" }
        self.report = report
    }

    /// Whether `path` lies in an approved scope.
    func inScope(_ path: String) -> Bool { scopes.contains { path.hasPrefix($0) } }

    /// Whether ``consider(_:pid:executable:)`` would queue `path`.
    public func wouldCheck(_ path: String) -> Bool { digests.expected(for: path) != nil || inScope(path) }

    /// Queues `path` if a digest is recorded for it or it lies in an approved scope (pipeline
    /// thread; never blocks).
    public func consider(_ path: String, pid: Int32, executable: String) {
        guard wouldCheck(path) else { return }
        let queued = queue.withLock { items -> Int in
            guard items.count < Self.queueLimit else { return 0 }
            items.append((path, pid, executable))
            return items.count
        }
        if queued == 0 {
            dropped.add(1, ordering: .relaxed)
        } else {
            accepted.add(1, ordering: .relaxed)
            if queued == 1 { work.signal() }
        }
    }

    /// Whether an opened file is code that runs: shared objects, Python and Node modules.
    /// Looks at the UTF-8 bytes of the last segment only: it runs for every successful read-open.
    public static func isLoadedCode(_ path: String) -> Bool {
        var path = path
        return path.withUTF8 { bytes -> Bool in
            guard let slash = bytes.lastIndex(of: UInt8(ascii: "/")) else { return false }
            let name = UnsafeBufferPointer(rebasing: bytes[(slash + 1)...])
            func ends(_ suffix: StaticString) -> Bool {
                let n = suffix.utf8CodeUnitCount
                guard name.count >= n else { return false }
                return suffix.withUTF8Buffer { s in (0..<n).allSatisfy { name[name.count - n + $0] == s[$0] } }
            }
            if ends(".so") || ends(".py") || ends(".js") || ends(".mjs") || ends(".cjs") || ends(".node") { return true }
            // Versioned shared objects: libfoo.so.1.2
            var i = 0
            while i + 3 < name.count {
                if name[i] == UInt8(ascii: "."), name[i + 1] == UInt8(ascii: "s"), name[i + 2] == UInt8(ascii: "o"),
                   name[i + 3] == UInt8(ascii: ".") { return true }
                i += 1
            }
            return false
        }
    }

    /// Starts the hashing thread. It sleeps until something is queued (or the next sweep of
    /// every process's mappings is due, every five minutes).
    public func start() {
        guard !running.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let thread = Thread { [self] in
            var lastSweep = Date()
            while running.load(ordering: .relaxed) {
                let batch = queue.withLock { items -> [(path: String, pid: Int32, executable: String)] in
                    defer { items.removeAll(keepingCapacity: true) }
                    return items
                }
                for item in batch {
                    check(item.path, pid: item.pid, executable: item.executable)
                    checked.add(1, ordering: .releasing)
                }
                if batch.isEmpty { _ = work.wait(timeout: .now() + max(0, 300 - Date().timeIntervalSince(lastSweep))) }
                if Date().timeIntervalSince(lastSweep) >= 300 {
                    sweep()
                    lastSweep = Date()
                }
            }
            stopped.signal()
        }
        thread.name = "probity-revalidate"
        thread.start()
    }

    /// Stops the hashing thread; returns once it has (after the file it is hashing, if any).
    public func stop() {
        guard running.exchange(false, ordering: .acquiringAndReleasing) else { return }
        work.signal()
        stopped.wait()
    }

    /// Returns once everything queued so far has been checked (or after `timeout`): a run's
    /// report then holds the findings of the files its command ran.
    public func waitUntilIdle(timeout: Duration = .seconds(60)) {
        let target = accepted.load(ordering: .acquiring)
        let deadline = ContinuousClock.now + timeout
        while checked.load(ordering: .acquiring) < target && ContinuousClock.now < deadline {
            work.signal()
            usleep(2000)
        }
    }

    /// Re-checks every file-backed mapping of every running process (libraries loaded long ago).
    func sweep() {
        guard let pids = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return }
        var seen = Set<String>()
        for pid in pids.compactMap(Int32.init) {
            guard let maps = try? String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8) else { continue }
            for line in maps.split(separator: "\n") {
                guard let slash = line.firstIndex(of: "/") else { continue }
                let path = String(line[slash...])
                if seen.insert(path).inserted, digests.expected(for: path) != nil { check(path, pid: pid, executable: "") }
            }
        }
    }

    private func check(_ path: String, pid: Int32, executable: String) {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return }
        let identity = FileIdentity(
            device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
            mtime: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec),
            ctime: Int64(info.st_ctim.tv_sec) * 1_000_000_000 + Int64(info.st_ctim.tv_nsec))
        // One verdict per version of a file: checked and reported once until it changes.
        if cache[identity] != nil {
            skippedUnchanged.add(1, ordering: .relaxed)
            return
        }
        if cache.count > 200_000 { cache.removeAll(keepingCapacity: true) }
        // By the name the kernel gave, else by the object (a bind mount or hard link of a listed file).
        let object = FileObject(statDevice: identity.device, inode: identity.inode)
        guard let (expected, source) = digests.expected(for: path) ?? digests.expected(for: object).map({ ($0.digest, $0.source) }) else {
            if inScope(path) {
                cache[identity] = false
                report(Finding(
                    path: path, rule: "unlisted",
                    message: "\(path) is in an approved tree but not in the approved set (a dropped or added file?)",
                    pid: pid, executable: executable))
            }
            return
        }
        guard let actual = Self.digest(of: path, algorithm: expected.algorithm) else { return }
        hashed.add(1, ordering: .relaxed)
        let matches = actual == expected.bytes
        cache[identity] = matches
        if !matches {
            let found = actual.map { String(format: "%02x", $0) }.joined()
            report(Finding(
                path: path, rule: "hash-mismatch",
                message: "\(path) does not match the \(expected.algorithm.rawValue) its \(source.rawValue) record gives (expected \(expected.hex), found \(found))",
                pid: pid, executable: executable, expected: expected.hex, found: found, source: source.rawValue))
        }
    }

    /// The largest file hashed (a sparse file claiming a terabyte is not read to its end).
    public static let maximumHashedBytes = 4 << 30

    /// The file's digest, read in 1 MiB chunks through ``FileContents/openUntrusted(_:followingLinks:)``:
    /// a FIFO or device put where a package's file was is refused without blocking the worker,
    /// and a file past ``maximumHashedBytes`` is not checked.
    public static func digest(of path: String, algorithm: FileHash.Algorithm) -> [UInt8]? {
        guard let fd = try? FileContents.openUntrusted(path, followingLinks: true) else { return nil }
        defer { close(fd) }
        var sha256 = SHA256(), sha1 = Insecure.SHA1(), md5 = Insecure.MD5(), sha512 = SHA512()
        do {
            try FileContents.forEachChunk(fd: fd, limit: maximumHashedBytes, path: path) { chunk in
                switch algorithm {
                case .sha256: sha256.update(bufferPointer: chunk)
                case .sha1: sha1.update(bufferPointer: chunk)
                case .md5: md5.update(bufferPointer: chunk)
                case .sha512: sha512.update(bufferPointer: chunk)
                }
            }
        } catch {
            return nil
        }
        switch algorithm {
        case .sha256: return Array(sha256.finalize())
        case .sha1: return Array(sha1.finalize())
        case .md5: return Array(md5.finalize())
        case .sha512: return Array(sha512.finalize())
        }
    }
}
