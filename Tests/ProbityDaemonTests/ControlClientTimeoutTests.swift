#if canImport(Glibc)
import Glibc
#endif
import Foundation
@testable import ProbityDaemon
import XCTest

/// A read timeout given as any Double (NaN, infinite, huge, negative) is taken within its range,
/// never trapping in the conversion to `timeval`.
final class ControlClientTimeoutTests: XCTestCase {
    func testAnyTimeoutIsTakenWithoutATrap() throws {
        let path = NSTemporaryDirectory() + "probity-timeout-\(getpid()).sock"
        unlink(path)
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(listener, 0)
        defer { close(listener); unlink(path) }
        var address = try XCTUnwrap(UnixSocketAddress(path))
        XCTAssertEqual(address.withSockaddr { bind(listener, $0, $1) }, 0)
        XCTAssertEqual(listen(listener, 1), 0)
        let client = try ControlClient(path: path)
        for seconds in [Double.nan, .infinity, -.infinity, 1e300, -1, 0, 0.25, Double(Int.max)] {
            client.setReadTimeout(seconds: seconds)
        }
        // A short one still works afterwards: the read gives up.
        client.setReadTimeout(seconds: 0.05)
        XCTAssertThrowsError(try client.readObject(), "nothing to read: the read times out")
    }
}
