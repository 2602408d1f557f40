#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbityEvents
import XCTest

/// ``FileContents/untrusted(_:limit:whole:)``: what a monitored process wrote is read without
/// following a link, without blocking, regular files only, capped while reading.
final class FileContentsTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("probity-contents-\(getpid())-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// Runs `body` on another thread; fails (rather than hanging the suite) when it takes longer
    /// than `seconds`, then calls `unblock` so the thread can finish.
    func finishes<T: Sendable>(within seconds: Double, unblock: () -> Void = {}, _ body: @escaping @Sendable () -> T) -> T? {
        let done = DispatchSemaphore(value: 0)
        let box = ResultBox<T>()
        Thread.detachNewThread { box.value = body(); done.signal() }
        if done.wait(timeout: .now() + seconds) == .timedOut {
            unblock()
            _ = done.wait(timeout: .now() + 5)
            return nil
        }
        return box.value
    }

    func testAFIFOIsRefusedWithoutBlocking() throws {
        let fifo = dir + "/PKG-INFO"
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        let started = Date()
        let outcome = finishes(within: 2, unblock: {
            // Were the read blocked on the FIFO, a writer lets it go.
            let fd = open(fifo, O_WRONLY | O_NONBLOCK)
            if fd >= 0 { close(fd) }
        }) { () -> String in
            do { _ = try FileContents.untrusted(fifo, limit: 1 << 16, whole: false); return "read" } catch { return (error as? FileContents.ReadError)?.message ?? "\(error)" }
        }
        XCTAssertEqual(outcome, "is a FIFO, not a regular file", "refused at once, not after blocking")
        XCTAssertLessThan(Date().timeIntervalSince(started), 1)
    }

    func testALinkIsNotFollowedAndADeviceIsNotRead() throws {
        let target = dir + "/real"
        try Data("Name: real\n".utf8).write(to: URL(fileURLWithPath: target))
        XCTAssertEqual(symlink(target, dir + "/link"), 0)
        XCTAssertThrowsError(try FileContents.untrusted(dir + "/link", limit: 100)) { error in
            XCTAssertEqual((error as? FileContents.ReadError)?.errno, ELOOP)
            XCTAssertEqual("\(error)", "\(dir)/link: is a symbolic link (not followed)")
        }
        XCTAssertEqual(try FileContents.untrusted(target, limit: 100), Array("Name: real\n".utf8))
        XCTAssertThrowsError(try FileContents.untrusted("/dev/zero", limit: 100)) { error in
            XCTAssertEqual("\(error)", "/dev/zero: is a character device, not a regular file")
        }
        XCTAssertThrowsError(try FileContents.untrusted(dir, limit: 100)) { error in
            XCTAssertEqual("\(error)", "\(dir): is a directory, not a regular file")
        }
    }

    /// The limit holds while reading: a sparse file that claims a terabyte is not read past it,
    /// whole reads refuse it, prefix reads return its start.
    func testTheLimitIsCountedWhileReading() throws {
        let sparse = dir + "/sparse"
        let fd = open(sparse, O_WRONLY | O_CREAT, 0o644)
        XCTAssertEqual(write(fd, "Name: big\n", 10), 10)
        XCTAssertEqual(ftruncate(fd, 1 << 40), 0)
        close(fd)
        XCTAssertThrowsError(try FileContents.untrusted(sparse, limit: 1 << 16)) { error in
            XCTAssertEqual((error as? FileContents.ReadError)?.errno, EFBIG)
        }
        let head = try FileContents.untrusted(sparse, limit: 1 << 16, whole: false)
        XCTAssertEqual(head.count, 1 << 16)
        XCTAssertEqual(Array(head.prefix(10)), Array("Name: big\n".utf8))
        // Exactly at the limit is whole.
        try Data(repeating: 65, count: 100).write(to: URL(fileURLWithPath: dir + "/hundred"))
        XCTAssertEqual(try FileContents.untrusted(dir + "/hundred", limit: 100).count, 100)
        XCTAssertThrowsError(try FileContents.untrusted(dir + "/hundred", limit: 99))
    }
}

final class ResultBox<T>: @unchecked Sendable {
    var value: T?
}
