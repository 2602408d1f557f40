import Foundation
import XCTest

/// Numbers given to the `probity` executable that are multiplied or converted: each out-of-range
/// value stops it with a usage error naming the option and its range, before anything runs (no
/// trap: the status is the usage error's, 64, not a signal's).
final class CommandLineNumberTests: XCTestCase {
    private func run(_ arguments: [String]) throws -> (status: Int32, text: String) {
        try Kernel.output(try Kernel.probityBinary().path, arguments, mergeErrors: true)
    }

    private func assertRefused(_ arguments: [String], saying expected: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let (status, text) = try run(arguments)
        XCTAssertEqual(status, 64, "\(arguments): \(text)", file: file, line: line)
        XCTAssertTrue(text.contains(expected), "\(arguments): expected \(expected.debugDescription) in \(text)", file: file, line: line)
    }

    func testCoalesceWindowIsRangeChecked() throws {
        for value in ["\(UInt64.max)", "\(Int.max)", "3600001"] {
            try assertRefused(["trace", "--coalesce-ms", value, "--", "/bin/true"], saying: "--coalesce-ms must be 0...3600000 (got \(value))")
        }
        // Not a whole number that fits: the parser refuses it, naming the option.
        for value in ["-1", "1e300", "nan", "18446744073709551616"] {
            try assertRefused(["trace", "--coalesce-ms=\(value)", "--", "/bin/true"], saying: "'\(value)' is invalid for '--coalesce-ms")
        }
    }

    func testRingBufferPidAndLimitAreRangeChecked() throws {
        for command in ["trace", "run"] {
            for value in ["\(Int.max)", "\(Int.min)", "0", "1025"] {
                try assertRefused([command, "--ring-buffer-mb=\(value)", "--", "/bin/true"], saying: "--ring-buffer-mb must be 1...1024 (got \(value))")
            }
            try assertRefused([command, "--ring-buffer-mb=1e300", "--", "/bin/true"], saying: "'1e300' is invalid for '--ring-buffer-mb")
        }
        for value in ["0", "-1", "\(Int32.min)"] {
            try assertRefused(["trace", "--pid=\(value)"], saying: "--pid must be 1...2147483647 (got \(value))")
        }
        try assertRefused(["trace", "--pid=\(Int.max)"], saying: "'\(Int.max)' is invalid for '--pid")
        for value in ["0", "-5", "\(Int.max)", "10001"] {
            try assertRefused(["violations", "--socket", "/nonexistent", "--limit=\(value)"], saying: "--limit must be 1...10000 (got \(value))")
        }
    }
}
