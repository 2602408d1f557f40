#if canImport(Glibc)
import Glibc
#endif
import Foundation
import XCTest
@testable import ProbityEvents
import ProbityProcess
@testable import ProbitySinks

final class JSONTests: XCTestCase {
    /// Writes through a pipe and parses every line back with Foundation's JSON parser.
    private func lines(_ body: (Int32) -> Void) throws -> [[String: Any]] {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        body(fds[1])
        close(fds[1])
        let data = FileHandle(fileDescriptor: fds[0], closeOnDealloc: true).readDataToEndOfFile()
        return try data.split(separator: UInt8(ascii: "\n")).map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0)) as? [String: Any])
        }
    }

    func testEscapingAndIntegers() throws {
        let parsed = try lines { fd in
            let w = JSONLineWriter(fd: fd)
            w.beginObject()
            w.field("s", "quote\" backslash\\ newline\n tab\t bell\u{7} é 😀")
            w.field("min", Int64.min)
            w.field("max", UInt64.max)
            w.field("zero", 0)
            w.field("list", ["a", "b\"c"])
            w.field("empty", [String]())
            w.endLine()
            w.flush()
        }
        XCTAssertEqual(parsed.count, 1)
        XCTAssertEqual(parsed[0]["s"] as? String, "quote\" backslash\\ newline\n tab\t bell\u{7} é 😀")
        XCTAssertEqual("\(parsed[0]["min"]!)", "\(Int64.min)")
        XCTAssertEqual(parsed[0]["zero"] as? Int, 0)
        XCTAssertEqual(parsed[0]["list"] as? [String], ["a", "b\"c"])
        XCTAssertEqual((parsed[0]["empty"] as? [String])?.count, 0)
    }

    func testEscapeDetectionAtEveryPosition() {
        func check(_ bytes: [UInt8]) -> Bool { bytes.withUnsafeBufferPointer { JSONLineWriter.needsEscaping($0) } }
        let plain = Array("/usr/lib/python3/dist-packages/é/x".utf8)
        XCTAssertFalse(check(plain))
        for special: UInt8 in [0x00, 0x01, 0x0a, 0x1f, 0x22, 0x5c] {
            for position in 0..<plain.count {
                var bytes = plain
                bytes[position] = special
                XCTAssertTrue(check(bytes), "byte \(special) at \(position)")
            }
        }
        XCTAssertFalse(check([0x20, 0x7f, 0x80, 0xff, 0x21, 0x23, 0x5b, 0x5d, 0xc3, 0xa9]))
    }

    func testEventSchemaFields() throws {
        let header = EventHeader(bootTimeNanoseconds: 1_000, kind: .open, pid: 5, tid: 6, ppid: 4, uid: 1000, gid: 1000, cgroupID: 9)
        let open = FileOpen(
            header: header, result: -2, path: "/home/u/.ssh/id_rsa", requestedPath: ".ssh/id_rsa", flags: OpenFlags(rawValue: 0),
            mode: 0, dirfd: -100, count: 3, syscall: .openat)
        var connectHeader = header
        connectHeader.kind = .connect
        let connect = NetworkConnect(
            header: connectHeader, result: 0, destination: .ipv4(address: (10, 0, 0, 1), port: 443), socketType: .stream,
            transport: .tcp, fd: 3, syscall: .connect)
        let parsed = try lines { fd in
            let encoder = EventJSONEncoder(fd: fd)
            encoder.write(.open(open), process: TrackedProcess(pid: 5, ppid: 4, executable: "/usr/bin/node"))
            encoder.write(.connect(connect), process: nil)
            encoder.flush()
        }
        XCTAssertEqual(parsed.count, 2)
        let o = parsed[0]
        XCTAssertEqual(o["kind"] as? String, "open")
        XCTAssertEqual(o["path"] as? String, "/home/u/.ssh/id_rsa")
        XCTAssertEqual(o["requested_path"] as? String, ".ssh/id_rsa")
        XCTAssertEqual(o["flags"] as? [String], ["read"])
        XCTAssertEqual(o["result"] as? Int, -2)
        XCTAssertEqual(o["error"] as? String, "ENOENT")
        XCTAssertEqual(o["count"] as? Int, 3)
        XCTAssertEqual(o["exe"] as? String, "/usr/bin/node")
        XCTAssertEqual(o["ppid"] as? Int, 4)
        XCTAssertTrue((o["time"] as? String)?.hasSuffix("Z") ?? false)
        let c = parsed[1]
        XCTAssertEqual(c["family"] as? String, "ipv4")
        XCTAssertEqual(c["address"] as? String, "10.0.0.1")
        XCTAssertEqual(c["port"] as? Int, 443)
        XCTAssertEqual(c["protocol"] as? String, "tcp")
        XCTAssertNil(c["error"])
    }

    func testWallClockFormatting() {
        var clock = WallClock()
        let now = WallClock.bootTimeNow()
        let text = clock.rfc3339(boot: now)
        XCTAssertEqual(text.count, "2026-11-24T02:23:19.123456789Z".count, text)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let parsed = formatter.date(from: String(text.prefix(23)) + "Z")
        XCTAssertNotNil(parsed, text)
        XCTAssertLessThan(abs(parsed?.timeIntervalSinceNow ?? 100), 5)
    }
}
