import Foundation
import ProbityDaemon
import XCTest

final class DaemonConfigurationTests: XCTestCase {
    private func file(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "probityd-config-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        addTeardownBlock { unlink(path) }
        return path
    }

    func testNoFileMeansDefaults() throws {
        XCTAssertEqual(try DaemonConfiguration.load(path: nil).socket, DaemonConfiguration().socket)
    }

    func testSettingsAreRead() throws {
        let c = try DaemonConfiguration.load(path: try file("socket: /tmp/x.sock\npolicies: [/etc/a.yaml, builtin]\nretention-days: 7\n"))
        XCTAssertEqual(c.socket, "/tmp/x.sock")
        XCTAssertEqual(c.policies, ["/etc/a.yaml", "builtin"])
        XCTAssertEqual(c.retentionDays, 7)
        XCTAssertEqual(c.stateDirectory, "/var/lib/probity", "unset settings keep their defaults")
    }

    func testBadFilesNameTheFileAndPlace() throws {
        let typo = try file("socket: /tmp/x.sock\nretension-days: 7\n")
        XCTAssertThrowsError(try DaemonConfiguration.load(path: typo)) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(typo):2:1: unknown setting `retension-days`"), "\(error)")
        }
        let wrongType = try file("retention-days: soon\n")
        XCTAssertThrowsError(try DaemonConfiguration.load(path: wrongType)) { error in
            XCTAssertTrue("\(error)".hasPrefix(wrongType) && "\(error)".contains("retention-days"), "\(error)")
        }
        let zero = try file("retention-rows: 0\n")
        XCTAssertThrowsError(try DaemonConfiguration.load(path: zero)) { error in
            XCTAssertTrue("\(error)".contains("must be positive"), "\(error)")
        }
        XCTAssertThrowsError(try DaemonConfiguration.load(path: "/nonexistent/config.yaml")) { error in
            XCTAssertTrue("\(error)".hasPrefix("/nonexistent/config.yaml: cannot be read"), "\(error)")
        }
    }
}

@testable import ProbityDaemon

final class LoadedCodeTests: XCTestCase {
    func testWhichOpensAreCode() {
        for path in ["/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib/libz.so", "/srv/app/m.py", "/srv/node_modules/a/i.js",
                     "/a/b.mjs", "/a/b.cjs", "/a/addon.node"] {
            XCTAssertTrue(Revalidator.isLoadedCode(path), path)
        }
        for path in ["/etc/hostname", "/a/so.txt", "/a.so.d/config", "/a/b.pyc.txt", "/a/json", "py"] {
            XCTAssertFalse(Revalidator.isLoadedCode(path), path)
        }
    }
}
