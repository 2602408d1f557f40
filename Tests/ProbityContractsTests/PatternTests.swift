import ProbityContracts
import ProbityEvents
import XCTest

final class PatternTests: XCTestCase {
    func testPathGlobs() {
        let cases: [(String, String, Bool)] = [
            ("/home/*/.ssh/**", "/home/dev/.ssh/id_rsa", true),
            ("/home/*/.ssh/**", "/home/dev/.ssh", true),
            ("/home/*/.ssh/**", "/home/dev/.sshx/id_rsa", false),
            ("/home/*/.ssh/**", "/home/a/b/.ssh/id_rsa", false),
            ("/etc/cron.*/**", "/etc/cron.d/job", true),
            ("/etc/cron.*/**", "/etc/crontab", false),
            ("/etc/ssh/ssh_host_*_key", "/etc/ssh/ssh_host_ed25519_key", true),
            ("/etc/ssh/ssh_host_*_key", "/etc/ssh/ssh_host_ed25519_key.pub", false),
            ("/tmp/**", "/tmp", true),
            ("/tmp/**", "/tmpfoo", false),
            ("/a/**/b/*.py", "/a/b/x.py", true),
            ("/a/**/b/*.py", "/a/1/2/3/b/x.py", true),
            ("/a/**/b/*.py", "/a/1/2/3/b/c/x.py", false),
            ("/a/?.txt", "/a/x.txt", true),
            ("/a/?.txt", "/a/xy.txt", false),
            ("/usr/bin/ps", "/usr/bin/ps", true),
            ("/usr/bin/ps", "/usr/bin/psx", false),
            ("/**", "/anything/at/all", true),
            ("/a/*b*c", "/a/xxbyyc", true),
            ("/a/*b*c", "/a/xxbyyd", false),
        ]
        for (pattern, path, expected) in cases {
            XCTAssertEqual(PathGlob(pattern).matches(path), expected, "\(pattern) vs \(path)")
        }
    }

    func testHostAndAddressPatterns() throws {
        XCTAssertTrue(TextPattern("*.pypi.org").matches("files.pypi.org"))
        XCTAssertTrue(TextPattern("*.pypi.org").matches("a.b.PYPI.org."))
        XCTAssertFalse(TextPattern("*.pypi.org").matches("pypi.org"))
        XCTAssertFalse(TextPattern("*.pypi.org").matches("pypi.org.evil.test"))
        let v4 = try XCTUnwrap(AddressRange("10.0.0.0/8"))
        XCTAssertTrue(v4.contains(.ipv4(address: (10, 1, 2, 3), port: 1)))
        XCTAssertFalse(v4.contains(.ipv4(address: (11, 1, 2, 3), port: 1)))
        let mapped: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 9, 9, 9]
        XCTAssertTrue(v4.contains(.ipv6(address: mapped, port: 1)), "IPv4-mapped IPv6 matches IPv4 networks")
        let v6 = try XCTUnwrap(AddressRange("fd00::/8"))
        XCTAssertTrue(v6.contains(.ipv6(address: [0xfd] + [UInt8](repeating: 1, count: 15), port: 1)))
        XCTAssertEqual(AddressRange("192.168.1.77/24")?.description, "192.168.1.0/24")
        XCTAssertNil(AddressRange("10.0.0.0/33"))
        XCTAssertNil(AddressRange("example.com"))
        XCTAssertEqual(PortRange("8000-8999")?.contains(8080), true)
        XCTAssertNil(PortRange("9-1"))
        XCTAssertNil(PortRange("70000"))
    }
}
