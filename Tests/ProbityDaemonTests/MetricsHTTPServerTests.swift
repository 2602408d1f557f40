#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NIOCore
import XCTest

@testable import ProbityDaemon

/// The metrics endpoint on swift-nio: silent clients stall no scrape and are closed.
final class MetricsHTTPServerTests: XCTestCase {
    private func connect(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = UInt16(port).bigEndian
        sin.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { close(fd); throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        return fd
    }

    /// Sends `request` and reads until the server closes (or 2 s pass).
    private func exchange(port: Int, _ request: String) throws -> String {
        let fd = try connect(port: port)
        defer { close(fd) }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = request.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            out += chunk[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }

    func testScrapesAreServedWhileAClientSaysNothing() throws {
        let port = 30_000 + Int(getpid() % 20_000)
        let server = try MetricsHTTPServer(address: "127.0.0.1:\(port)", idleTimeout: .seconds(1)) { "probity_events_total{kind=\"open\"} 3\n" }
        defer { server.stop() }
        let silent = try connect(port: port)
        defer { close(silent) }
        let started = Date()
        let scraped = try exchange(port: port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertLessThan(Date().timeIntervalSince(started), 1, "a silent client does not stall the scrape")
        XCTAssertTrue(scraped.hasPrefix("HTTP/1.1 200 OK"), scraped)
        XCTAssertTrue(scraped.lowercased().contains("content-type: text/plain; version=0.0.4"), scraped)
        XCTAssertTrue(scraped.hasSuffix("\r\n\r\nprobity_events_total{kind=\"open\"} 3\n"), scraped)
        XCTAssertTrue(try exchange(port: port, "GET /other HTTP/1.1\r\nHost: x\r\n\r\n").hasPrefix("HTTP/1.1 404 Not Found"))
        XCTAssertTrue(try exchange(port: port, "GET /metrics?x=1 HTTP/1.0\r\n\r\n").hasPrefix("HTTP/1.0 200 OK"))
        // The silent one is closed after the idle timeout.
        var timeout = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(silent, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var byte: UInt8 = 0
        let closedAt = Date()
        XCTAssertEqual(recv(silent, &byte, 1, 0), 0, "closed by the server")
        XCTAssertLessThan(Date().timeIntervalSince(closedAt), 2.5)
    }

    func testABadAddressIsAnError() {
        XCTAssertThrowsError(try MetricsHTTPServer(address: "localhost", body: { "" }))
        XCTAssertThrowsError(try MetricsHTTPServer(address: "999.0.0.1:80", body: { "" }))
    }
}
