import ProbityEvents
import XCTest

final class NumberRangeTests: XCTestCase {
    func testValuesInsideTheRangeComeBack() throws {
        XCTAssertEqual(try NumberRange.check(UInt64(0), in: 0...3_600_000, name: "--coalesce-ms"), 0)
        XCTAssertEqual(try NumberRange.check(3_600_000 as UInt64, in: 0...3_600_000, name: "--coalesce-ms"), 3_600_000)
        XCTAssertEqual(try NumberRange.check(Int32.max, in: 1...Int32.max, name: "--pid"), Int32.max)
    }

    func testValuesOutsideNameTheOptionAndTheRange() {
        XCTAssertThrowsError(try NumberRange.check(UInt64.max, in: 0...3_600_000, name: "--coalesce-ms")) { error in
            XCTAssertEqual("\(error)", "--coalesce-ms must be 0...3600000 (got 18446744073709551615)")
        }
        XCTAssertThrowsError(try NumberRange.check(Int.max, in: 1...36_500, name: "retention-days")) { error in
            XCTAssertEqual("\(error)", "retention-days must be 1...36500 (got 9223372036854775807)")
        }
        XCTAssertThrowsError(try NumberRange.check(Int.min, in: 1...1024, name: "--ring-buffer-mb")) { error in
            XCTAssertEqual(error as? NumberOutOfRange, NumberOutOfRange(name: "--ring-buffer-mb", range: "1...1024", value: "\(Int.min)"))
        }
        XCTAssertThrowsError(try NumberRange.check(Int32(-1), in: 1...Int32.max, name: "--pid")) { error in
            XCTAssertEqual("\(error)", "--pid must be 1...2147483647 (got -1)")
        }
    }
}
