import Foundation
import XCTest
@testable import ProbityPipeline

final class PipelineTests: XCTestCase {
    func testSPSCDeliversEverythingInOrderAcrossThreads() {
        let queue = SPSCQueue<Int>(minimumCapacity: 64)
        let total = 200_000
        let producer = Thread {
            var i = 0
            while i < total { if queue.push(i) { i += 1 } }
        }
        producer.start()
        var expected = 0
        let deadline = Date().addingTimeInterval(30)
        while expected < total && Date() < deadline {
            if let v = queue.pop() {
                XCTAssertEqual(v, expected)
                if v != expected { return }
                expected += 1
            }
        }
        XCTAssertEqual(expected, total)
        XCTAssertNil(queue.pop())
    }

    func testSPSCRefusesWhenFull() {
        let queue = SPSCQueue<String>(minimumCapacity: 3)
        XCTAssertEqual(queue.capacity, 4)
        for i in 0..<4 { XCTAssertTrue(queue.push("\(i)")) }
        XCTAssertFalse(queue.push("overflow"))
        XCTAssertEqual(queue.pop(), "0")
        XCTAssertTrue(queue.push("4"))
        XCTAssertEqual((0..<4).compactMap { _ in queue.pop() }, ["1", "2", "3", "4"])
    }

    func testRecordBatchKeepsBoundaries() {
        var batch = RecordBatch(byteCapacity: 16)
        for record in [[1, 2, 3], [], [4], [5, 6, 7, 8, 9]] as [[UInt8]] {
            record.withUnsafeBytes { batch.append($0) }
        }
        var seen: [[UInt8]] = []
        batch.forEach { seen.append(Array($0)) }
        XCTAssertEqual(seen, [[1, 2, 3], [], [4], [5, 6, 7, 8, 9]])
        batch.removeAll()
        XCTAssertTrue(batch.isEmpty)
        XCTAssertEqual(batch.byteCount, 0)
    }
}
