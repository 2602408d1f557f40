import Foundation
import ProbityDaemon
import ProbitySinks
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

    /// probityd discovers packages in the system's locations and `package-roots`, never in its
    /// working directory or a home; the store keeps `retention-rows` per uid.
    func testPackageRootsAndRetentionPerUser() throws {
        let defaults = DaemonConfiguration()
        XCTAssertEqual(defaults.packageRoots, ["/usr/lib/node_modules", "/usr/local/lib/node_modules", "/opt"])
        XCTAssertEqual(defaults.discovery.workspaces, defaults.packageRoots)
        XCTAssertFalse(defaults.discovery.workspaces.contains(FileManager.default.currentDirectoryPath))
        XCTAssertTrue(defaults.discovery.sitePackages.allSatisfy { $0.hasPrefix("/usr/lib/") || $0.hasPrefix("/usr/local/lib/") },
                      "\(defaults.discovery.sitePackages)")
        XCTAssertEqual(defaults.storeRetention, ViolationStore.Retention(rowsPerUID: 1_000_000, totalRows: 10_000_000))
        let c = try DaemonConfiguration.load(path: try file("package-roots: [/srv/app, /opt]\nretention-rows: 500\nretention-total-rows: 2000\n"))
        XCTAssertEqual(c.packageRoots, ["/srv/app", "/opt"])
        XCTAssertEqual(c.discovery.workspaces, ["/srv/app", "/opt"])
        XCTAssertEqual(c.storeRetention, ViolationStore.Retention(rowsPerUID: 500, totalRows: 2000))
        XCTAssertEqual(try DaemonConfiguration.load(path: try file("package-roots: []\n")).discovery.workspaces, [])
        let relative = try file("socket: /tmp/x.sock\npackage-roots: [srv/app]\n")
        XCTAssertThrowsError(try DaemonConfiguration.load(path: relative)) { error in
            XCTAssertEqual("\(error)", "\(relative):2:1: package-roots must be absolute paths, not `srv/app`")
        }
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
            XCTAssertEqual("\(error)", "\(zero):1:1: `retention-rows` must be 1...1000000000 (got 0)")
        }
        XCTAssertThrowsError(try DaemonConfiguration.load(path: "/nonexistent/config.yaml")) { error in
            XCTAssertTrue("\(error)".hasPrefix("/nonexistent/config.yaml: cannot be read"), "\(error)")
        }
    }

    /// Every number setting, given a hostile value: an error naming the file, the place, the
    /// setting and its range; never a trap, never a value that overflows later.
    func testNumberSettingsAreRangeChecked() throws {
        XCTAssertEqual(DaemonConfiguration.ranges.map(\.key), [
            "retention-days", "retention-rows", "retention-total-rows", "recent-events", "ring-buffer-mb", "export-max-bytes",
            "export-keep",
        ])
        for (key, range) in DaemonConfiguration.ranges {
            // Whole numbers outside the range: the value is named.
            for value in ["\(Int.max)", "\(Int.min)", "-1", "\(range.lowerBound - 1)", "\(range.upperBound + 1)"] {
                let path = try file("socket: /tmp/x.sock\n\(key): \(value)\n")
                XCTAssertThrowsError(try DaemonConfiguration.load(path: path), "\(key): \(value)") { error in
                    XCTAssertEqual("\(error)", "\(path):2:1: `\(key)` must be \(range.lowerBound)...\(range.upperBound) (got \(value))")
                }
            }
            // Not a whole number, or past Int: the range is named.
            for value in ["1e300", ".nan", ".inf", "-.inf", "9223372036854775808", "-99999999999999999999", "1.5"] {
                let path = try file("\(key): \(value)\n")
                XCTAssertThrowsError(try DaemonConfiguration.load(path: path), "\(key): \(value)") { error in
                    XCTAssertEqual("\(error)", "\(path): `\(key)` must be a whole number in \(range.lowerBound)...\(range.upperBound)")
                }
            }
            // Both ends are accepted.
            for value in [range.lowerBound, range.upperBound] {
                XCTAssertNoThrow(try DaemonConfiguration.load(path: try file("\(key): \(value)\n")), "\(key): \(value)")
            }
        }
    }

    func testRetentionInNanosecondsCannotOverflow() throws {
        var c = DaemonConfiguration()
        XCTAssertEqual(c.retentionNanoseconds, 30 * 86_400 * 1_000_000_000)
        c.retentionDays = 36_500
        XCTAssertEqual(c.retentionNanoseconds, 36_500 * 86_400 * 1_000_000_000)
        // Set in code, past the checks: saturated, not a trap.
        c.retentionDays = Int.max
        XCTAssertEqual(c.retentionNanoseconds, Int64.max)
        XCTAssertThrowsError(try c.checkRanges()) { error in
            XCTAssertEqual("\(error)", "retention-days must be 1...36500 (got \(Int.max))")
        }
        c.retentionDays = -5
        XCTAssertEqual(c.retentionNanoseconds, 0)
    }
}
