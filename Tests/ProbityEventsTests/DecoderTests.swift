import XCTest
import CProbityBPF
@testable import ProbityEvents

/// Decoding synthetic records built with the shared C structs.
final class DecoderTests: XCTestCase {
    private func header(kind: UInt32, flags: UInt32 = 0) -> probity_header {
        probity_header(time_ns: 42, kind: kind, flags: flags, pid: 100, tid: 101, ppid: 99, uid: 1000, gid: 1001, _pad0: 0, cgroup_id: 7)
    }

    private func record<T>(_ fixed: T, tail: [UInt8] = []) -> [UInt8] {
        var bytes = withUnsafeBytes(of: fixed) { Array($0) }
        bytes.append(contentsOf: tail)
        return bytes
    }

    private func decode(_ bytes: [UInt8]) throws -> Event {
        try bytes.withUnsafeBytes { try EventDecoder.decode($0) }
    }

    /// Dentry paths come root first, NUL-terminated, like any string.
    private func dentry(_ path: String) -> [UInt8] {
        Array(path.utf8) + [0]
    }

    func testOpenRelativeIsJoinedToItsDirectory() throws {
        let path = Array("../x/./y.txt".utf8) + [0]
        let dir = dentry("/home/user/src")
        var o = probity_open()
        o.hdr = header(kind: UInt32(PROBITY_KIND_OPEN.rawValue), flags: UInt32(PROBITY_F_RELATIVE.rawValue))
        o.result = 3
        o.open_flags = 0o1101  // O_WRONLY|O_CREAT|O_TRUNC
        o.mode = 0o644
        o.dirfd = -100
        o.count = 1
        o.syscall = UInt16(PROBITY_SYS_OPENAT.rawValue)
        o.path_len = UInt16(path.count)
        o.dir_len = UInt16(dir.count)
        guard case .open(let open) = try decode(record(o, tail: path + dir)) else { return XCTFail("not an open") }
        XCTAssertEqual(open.path, "/home/user/x/y.txt")
        XCTAssertEqual(open.requestedPath, "../x/./y.txt")
        XCTAssertEqual(open.flags.names, ["write", "create", "truncate"])
        XCTAssertEqual(open.header.pid, 100)
        XCTAssertEqual(open.header.ppid, 99)
        XCTAssertEqual(open.header.cgroupID, 7)
        XCTAssertEqual(open.syscall, .openat)
    }

    /// A successful open is judged by the object the kernel opened, not the string passed.
    func testOpenWithItsObjectIsJudgedByTheObjectPath() throws {
        let path = Array("//tmp/k/./id_rsa".utf8) + [0]
        let object = dentry("/root/.ssh/id_rsa")
        var o = probity_open()
        o.hdr = header(kind: UInt32(PROBITY_KIND_OPEN.rawValue), flags: UInt32(PROBITY_F_OBJECT.rawValue))
        o.result = 3
        o.count = 1
        o.path_len = UInt16(path.count)
        o.object_len = UInt16(object.count)
        o.ino = 1234
        o.dev = (8 << 20) | 1
        guard case .open(let open) = try decode(record(o, tail: path + object)) else { return XCTFail("not an open") }
        XCTAssertEqual(open.path, "/root/.ssh/id_rsa")
        XCTAssertEqual(open.requestedPath, "//tmp/k/./id_rsa")
        XCTAssertEqual(open.object, FileObject(device: (8 << 20) | 1, inode: 1234))
        // stat(2)'s st_dev for 8:1 is 0x801.
        XCTAssertEqual(FileObject(statDevice: 0x801, inode: 1234), open.object)
    }

    /// A failed absolute open is normalised: `//` and `/./` and `/../` do not hide a path.
    func testFailedAbsoluteOpenIsNormalised() throws {
        let path = Array("//root/./x/../.ssh//id_rsa".utf8) + [0]
        var o = probity_open()
        o.hdr = header(kind: UInt32(PROBITY_KIND_OPEN.rawValue))
        o.result = -13
        o.count = 1
        o.path_len = UInt16(path.count)
        guard case .open(let open) = try decode(record(o, tail: path)) else { return XCTFail("not an open") }
        XCTAssertEqual(open.path, "/root/.ssh/id_rsa")
        XCTAssertNil(open.object)
    }

    func testExecSplitsItsTail() throws {
        let filename = Array("/usr/bin/python3".utf8) + [0]
        let exe = dentry("/usr/bin/python3.11")
        let argv = Array("python3\0-m\0pip\0".utf8)
        let cwd = dentry("/work")
        var e = probity_exec()
        e.hdr = header(kind: UInt32(PROBITY_KIND_EXEC.rawValue))
        e.start_time_ns = 5
        e.argc = 3
        e.filename_len = UInt16(filename.count)
        e.exe_len = UInt16(exe.count)
        e.argv_len = UInt16(argv.count)
        e.cwd_len = UInt16(cwd.count)
        guard case .exec(let exec) = try decode(record(e, tail: filename + exe + argv + cwd)) else { return XCTFail() }
        XCTAssertEqual(exec.filename, "/usr/bin/python3")
        XCTAssertEqual(exec.executable, "/usr/bin/python3.11")
        XCTAssertEqual(exec.argv, ["python3", "-m", "pip"])
        XCTAssertEqual(exec.cwd, "/work")
        XCTAssertFalse(exec.header.flags.contains(.argvTruncated))
    }

    func testLengthsPastTheRecordAreRefused() throws {
        var o = probity_open()
        o.hdr = header(kind: UInt32(PROBITY_KIND_OPEN.rawValue))
        o.path_len = 500
        XCTAssertThrowsError(try decode(record(o, tail: Array("short".utf8)))) { error in
            XCTAssertTrue("\(error)".contains("runs past the record"), "\(error)")
        }
        XCTAssertThrowsError(try decode([1, 2, 3]))
        XCTAssertThrowsError(try decode(record(header(kind: 99))))
        var short = record(probity_exec())
        short.removeLast(8)
        XCTAssertThrowsError(try decode(short))
    }

    func testConnectAddresses() throws {
        var c = probity_connect()
        c.hdr = header(kind: UInt32(PROBITY_KIND_CONNECT.rawValue))
        c.family = 10
        c.port = 443
        c.protocol = 6
        c.sock_type = 1
        c.result = -115
        withUnsafeMutableBytes(of: &c.addr) { $0[15] = 1 }
        guard case .connect(let v6) = try decode(record(c)) else { return XCTFail() }
        XCTAssertEqual(v6.destination.description, "[::1]:443")
        XCTAssertEqual(v6.transport, .tcp)
        XCTAssertEqual(ErrnoName.name(v6.result), "EINPROGRESS")

        c.family = 1
        withUnsafeMutableBytes(of: &c.unix_path) { raw in
            for (i, b) in "@abstract\0\0".utf8.enumerated() { raw[i] = b }
        }
        c.unix_path_len = 11
        guard case .connect(let unix) = try decode(record(c)) else { return XCTFail() }
        XCTAssertEqual(unix.destination.address, "@abstract")
        XCTAssertEqual(unix.transport, .unix)

        c.family = 77
        XCTAssertThrowsError(try decode(record(c)))
    }

    func testExitStatus() throws {
        var x = probity_exit()
        x.hdr = header(kind: UInt32(PROBITY_KIND_EXIT.rawValue))
        x.exit_code = 9
        guard case .exit(let killed) = try decode(record(x)) else { return XCTFail() }
        XCTAssertEqual(killed.signal, 9)
        XCTAssertNil(killed.exitCode)
        x.exit_code = 3 << 8
        guard case .exit(let normal) = try decode(record(x)) else { return XCTFail() }
        XCTAssertEqual(normal.exitCode, 3)
    }

    func testPathText() {
        XCTAssertEqual(PathText.normalize("/a/./b/../c//d/"), "/a/c/d")
        XCTAssertEqual(PathText.normalize("/../.."), "/")
        // The fast path (a path already clean is returned as is) agrees with splitting and
        // joining on every string of up to 7 characters over '/', '.' and 'a'.
        var strings = [""], level = [""]
        for _ in 0..<7 {
            level = level.flatMap { prefix in ["/", ".", "a"].map { prefix + $0 } }
            strings += level
        }
        XCTAssertEqual(strings.count, 3280)
        for path in strings {
            XCTAssertEqual(PathText.normalize(path), PathText.normalizeBySplitting(path), "normalize(\"\(path)\")")
        }
        XCTAssertEqual(PathText.join(directory: "/", relative: "etc/passwd"), "/etc/passwd")
        XCTAssertEqual(PathText.join(directory: "", relative: "x"), "x")
        XCTAssertEqual(PathText.join(directory: "/x", relative: "//etc/./passwd"), "/etc/passwd")
        Array("a\0\0b".utf8).withUnsafeBytes { XCTAssertEqual(PathText.strings($0), ["a", "", "b"]) }
        ([0xff, 0x41, 0] as [UInt8]).withUnsafeBytes { XCTAssertEqual(PathText.string($0), "\u{FFFD}A") }
    }

    func testEnvironmentFilterKeepsOnlyAttributionVariables() {
        let block = Array("HOME=/root\0npm_package_name=a\0AWS_SECRET_ACCESS_KEY=x\0npm_lifecycle_event=install\0=odd\0noequals\0".utf8)
        block.withUnsafeBytes {
            XCTAssertEqual(EnvironmentFilter.kept(from: $0, startsMidVariable: false), ["npm_package_name=a", "npm_lifecycle_event=install"])
        }
        let cut = Array("package_name=partial\0npm_package_version=1.0\0".utf8)
        cut.withUnsafeBytes {
            XCTAssertEqual(EnvironmentFilter.kept(from: $0, startsMidVariable: true), ["npm_package_version=1.0"])
        }
        [UInt8]().withUnsafeBytes { XCTAssertEqual(EnvironmentFilter.kept(from: $0, startsMidVariable: false), []) }
    }

    func testIPv6Formatting() {
        func f(_ s: [UInt8]) -> String { SocketAddress.formatIPv6(s) }
        XCTAssertEqual(f([0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]), "2001:db8::1")
        XCTAssertEqual(f([UInt8](repeating: 0, count: 16)), "::")
        XCTAssertEqual(f([UInt8](repeating: 0, count: 10) + [0xff, 0xff, 10, 0, 0, 1]), "::ffff:10.0.0.1")
        XCTAssertEqual(f([0, 1, 0, 0, 0, 1] + [UInt8](repeating: 0, count: 10)), "1:0:1::")
    }

    func testOpenFlags() {
        XCTAssertEqual(OpenFlags(rawValue: 0).names, ["read"])
        XCTAssertEqual(OpenFlags(rawValue: 2).names, ["read", "write"])
        XCTAssertEqual(OpenFlags(rawValue: 0o2001).names, ["write", "append"])
        XCTAssertEqual(OpenFlags(rawValue: 0o20200002).names, ["read", "write", "tmpfile"])
        XCTAssertEqual(OpenFlags(rawValue: 0o200000).names, ["read", "directory"])
    }
}
