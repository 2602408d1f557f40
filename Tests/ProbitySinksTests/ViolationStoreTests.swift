import Foundation
import GRDB
import ProbityContracts
@testable import ProbitySinks
import XCTest

/// Retention per user: one uid's flood deletes only that uid's oldest rows.
final class ViolationStoreTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "probity-store-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    static func violation(rule: String, path: String, uid: UInt32?) -> Violation {
        var evidence = Evidence(operation: "open")
        evidence.path = path
        evidence.access = ["write"]
        return Violation(
            time: "2026-12-03T12:00:00.000000000Z", bootTimeNanoseconds: 1, contract: "default", rule: rule, category: "process",
            severity: .high, action: .alert, enforced: false, enforcement: nil, message: "wrote \(path)", package: nil,
            attribution: AttributionReference(reason: "unattributed", evidence: "/usr/bin/python3"),
            processes: [ProcessLink(pid: 7, executable: "/usr/bin/python3", argv: ["python3"])], evidence: evidence,
            ruleLocation: "(built-in)", count: 1, uid: uid)
    }

    /// uid 1000 writes a million violations (in batches, as fast as the store takes them); uid
    /// 2000's one violation, older than all of them, remains; uid 1000 keeps its newest.
    func testAMillionViolationsOfOneUIDLeaveAnotherUIDsViolation() throws {
        let store = try ViolationStore(path: dir + "/v.sqlite", retention: .init(rowsPerUID: 1000, totalRows: 1_000_000))
        let evidence = try store.insert(Self.violation(rule: "credential-read", path: "/home/b/.ssh/id_rsa", uid: 2000), unixNanoseconds: 1)
        let flood = Self.violation(rule: "persistence-write", path: "/home/a/.config/autostart/x.desktop", uid: 1000)
        let started = Date()
        var unix: Int64 = 2
        for _ in 0..<10 {
            var batch: [(violation: Violation, unixNanoseconds: Int64)] = []
            batch.reserveCapacity(100_000)
            for _ in 0..<100_000 { batch.append((flood, unix)); unix += 1 }
            try store.insert(batch)
        }
        let last = try store.insert(Self.violation(rule: "persistence-write", path: "/home/a/.config/autostart/last", uid: 1000), unixNanoseconds: unix)
        print("ViolationStoreTests: 1,000,001 violations of one uid stored in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
        let counts = try store.countsByUID()
        XCTAssertEqual(counts[2000], 1, "the other uid's violation remains")
        XCTAssertLessThanOrEqual(try XCTUnwrap(counts[1000]), 1000 + 15, "the flooding uid is held to its cap (and its slack)")
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(counts[1000]), 1000)
        var filter = ViolationStore.Filter()
        filter.rule = "credential-read"
        let kept = try store.query(filter)
        XCTAssertEqual(kept.map(\.id), [evidence])
        XCTAssertEqual(kept.first?.violation.uid, 2000)
        filter.rule = "persistence-write"
        filter.limit = 1
        XCTAssertEqual(try store.query(filter).map(\.id), [last], "the flood's newest is kept, its oldest went")

        // The periodic prune holds each uid to the cap exactly, and counts stay right after it.
        try store.prune(olderThanUnixNanoseconds: 0, maximumRows: 1000)
        XCTAssertEqual(try store.countsByUID(), [1000: 1000, 2000: 1])
    }

    /// The total cap takes rows from the uid holding the most, never from a small one.
    func testTheTotalCapTakesFromTheLargestUID() throws {
        let store = try ViolationStore(path: dir + "/v.sqlite", retention: .init(rowsPerUID: 100, totalRows: 150))
        try store.insert([(Self.violation(rule: "r", path: "/c", uid: 3), 0)])
        try store.insert((0..<100).map { (Self.violation(rule: "r", path: "/a\($0)", uid: 1), Int64($0)) })
        try store.insert((0..<60).map { (Self.violation(rule: "r", path: "/b\($0)", uid: 2), Int64($0)) })
        let counts = try store.countsByUID()
        XCTAssertEqual(counts[3], 1)
        XCTAssertEqual(counts[2], 60)
        // 150 and the slack (cap / 64, here 1) before a delete: the excess came from uid 1.
        XCTAssertLessThanOrEqual(counts.values.reduce(0, +), 151)
        XCTAssertGreaterThanOrEqual(counts.values.reduce(0, +), 150)
        XCTAssertLessThanOrEqual(counts[1] ?? 0, 90)
    }

    /// Age and per-uid caps in `prune` (the daemon's minute timer); violations without a uid
    /// (integrity findings of the re-validation worker) are a bucket of their own.
    func testPruneKeepsEachUIDsNewestAndDropsOldOnes() throws {
        let store = try ViolationStore(path: dir + "/v.sqlite")
        try store.insert((0..<50).map { (Self.violation(rule: "r", path: "/a\($0)", uid: 1), Int64(100 + $0)) })
        try store.insert(Self.violation(rule: "r", path: "/b", uid: 2), unixNanoseconds: 200)
        try store.insert(Self.violation(rule: "r", path: "/old", uid: 2), unixNanoseconds: 5)
        try store.insert((0..<3).map { (Self.violation(rule: "hash-mismatch", path: "/n\($0)", uid: nil), Int64(300 + $0)) })
        XCTAssertEqual(try store.prune(olderThanUnixNanoseconds: 10, maximumRows: 10), 1 + 40)
        XCTAssertEqual(try store.countsByUID(), [1: 10, 2: 1, nil: 3])
        var filter = ViolationStore.Filter()
        filter.limit = 1000
        let paths = try store.query(filter).compactMap(\.violation.evidence.path)
        XCTAssertEqual(Array(paths.prefix(10)), (40..<50).map { "/a\($0)" }, "each uid's newest remain")
    }

    /// A store written before uids were kept opens, its rows in the bucket without a uid.
    func testAStoreFromBeforeUIDsIsMigrated() throws {
        let path = dir + "/old.sqlite"
        let queue = try DatabaseQueue(path: path)
        try ViolationStore.migrator(through: "v1").migrate(queue)
        let json = try JSONEncoder().encode(Self.violation(rule: "old", path: "/x", uid: nil))
        try queue.write { db in
            try db.execute(sql: "INSERT INTO violation (unix_ns, severity, contract, rule, json) VALUES (1, 3, 'default', 'old', ?)", arguments: [json])
        }
        try queue.close()
        let store = try ViolationStore(path: path, retention: .init(rowsPerUID: 5, totalRows: 100))
        try store.insert((0..<20).map { (Self.violation(rule: "new", path: "/n\($0)", uid: 7), Int64($0 + 2)) })
        XCTAssertEqual(try store.countsByUID(), [nil: 1, 7: 5])
    }
}
