// store-bench: violations per second through probityd's store (SQLite in WAL mode, one committed
// transaction per violation, as the daemon does so that a follower never sees a violation a crash
// would lose), against a baseline measured in the same run: appending the same JSON lines to a
// file with one write(2) each (no fsync either way: WAL with synchronous=NORMAL survives a killed
// process, which is what the daemon promises). The store keeps retention as the daemon does by
// default (retention-rows 1,000,000 per uid, retention-total-rows 10,000,000), the violations coming
// from 8 uids; a last figure is one uid flooding a store capped at 1,000 rows per uid, which
// deletes its oldest rows as it goes.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbityContracts
import ProbitySinks

let count = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 20_000
let dir = NSTemporaryDirectory() + "probity-store-bench-\(getpid())"
try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: dir) }

func violation(_ i: Int) -> Violation {
    var evidence = Evidence(operation: "open")
    evidence.path = "/home/runner/.ssh/key\(i)"
    evidence.access = ["read"]
    evidence.result = 3
    return Violation(
        time: "2026-12-02T12:00:00.000000000Z", bootTimeNanoseconds: UInt64(i), contract: "default", rule: "credential-read",
        category: "secrets", severity: .critical, action: .kill, enforced: false, enforcement: nil,
        message: "read of credential file /home/runner/.ssh/key\(i) breaks default/credential-read", package: nil,
        attribution: AttributionReference(reason: "npm-lifecycle", evidence: "npm postinstall of evil"),
        processes: [ProcessLink(pid: Int32(1000 + i % 100), executable: "/usr/bin/node", argv: ["node", "postinstall.js"])],
        evidence: evidence, ruleLocation: "policies/default.yaml:13:9", count: 1, uid: UInt32(1000 + i % 8))
}
let violations = (0..<count).map(violation)

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

var floodTimes: [Double] = []
var storeTimes: [Double] = []
var fileTimes: [Double] = []
for round in 0..<3 {
    let store = try ViolationStore(
        path: "\(dir)/store\(round).sqlite", retention: .init(rowsPerUID: 1_000_000, totalRows: 10_000_000))
    storeTimes.append(try seconds {
        for (i, v) in violations.enumerated() { try store.insert(v, unixNanoseconds: Int64(i)) }
    })
    let file = try RotatingJSONLines(path: "\(dir)/lines\(round).jsonl", maximumBytes: 1 << 30, keep: 1)
    let encoder = ViolationJSON.encoder()
    fileTimes.append(try seconds {
        for v in violations { try file.append(Array(try encoder.encode(v))) }
    })
    let stored = try store.count()
    precondition(stored == count, "every violation stored")
    let capped = try ViolationStore(path: "\(dir)/capped\(round).sqlite", retention: .init(rowsPerUID: 1000, totalRows: 10_000_000))
    floodTimes.append(try seconds {
        for (i, v) in violations.enumerated() {
            var one = v
            one.uid = 1000
            try capped.insert(one, unixNanoseconds: Int64(i))
        }
    })
    let kept = try capped.count()
    precondition(kept <= 1000 + 15, "the flood held to its cap")
}
let store = storeTimes.sorted()[1], file = fileTimes.sorted()[1], flood = floodTimes.sorted()[1]
print("store-bench: \(count) violations, median of 3")
print(String(format: "  store (SQLite WAL, a transaction each) %8.0f violations/s", Double(count) / store))
print(String(format: "  baseline (JSON line, one write each)   %8.0f violations/s", Double(count) / file))
print(String(format: "  ratio store / baseline time            %8.2fx", store / file))
print(String(format: "  one uid flooding a 1,000-row cap        %8.0f violations/s", Double(count) / flood))
