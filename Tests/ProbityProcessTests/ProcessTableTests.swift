#if canImport(Glibc)
import Glibc
#endif
import XCTest
@testable import ProbityEvents
@testable import ProbityProcess

final class ProcessTableTests: XCTestCase {
    private func h(_ kind: EventKind, pid: Int32, ppid: Int32, at t: UInt64 = 1) -> EventHeader {
        EventHeader(bootTimeNanoseconds: t, kind: kind, pid: pid, tid: pid, ppid: ppid, uid: 0, gid: 0, cgroupID: 1)
    }

    func testForkExecExitLineageAndForgetting() {
        var table = ProcessTable(retentionNanoseconds: 100)
        table.insert(TrackedProcess(pid: 10, ppid: 1, executable: "/bin/sh"))
        table.apply(.fork(ProcessFork(header: h(.fork, pid: 10, ppid: 1), childPID: 11, childStartTimeNanoseconds: 5)))
        XCTAssertEqual(table[11]?.executable, "/bin/sh", "a child inherits its parent's image until it execs")
        table.apply(.exec(ProcessExec(
            header: h(.exec, pid: 11, ppid: 10), result: 0, startTimeNanoseconds: 5, filename: "x", executable: "/usr/bin/x",
            argv: ["x", "-y"], argc: 2, cwd: "/tmp", environment: [])))
        table.apply(.fork(ProcessFork(header: h(.fork, pid: 11, ppid: 10), childPID: 12, childStartTimeNanoseconds: 6)))
        XCTAssertEqual(table.lineage(of: 12).map(\.pid), [12, 11, 10])
        XCTAssertTrue(table.isDescendant(12, of: 10))
        XCTAssertEqual(table[11]?.argv, ["x", "-y"])

        table.apply(.exit(ProcessExit(header: h(.exit, pid: 12, ppid: 11, at: 1000), status: 0, startTimeNanoseconds: 6)))
        XCTAssertNotNil(table[12], "kept until its events are through")
        table.forgetExited(before: 1050)
        XCTAssertNotNil(table[12])
        table.forgetExited(before: 1100)
        XCTAssertNil(table[12])
        XCTAssertEqual(table.count, 2)
    }

    func testFailedExecChangesNothing() {
        var table = ProcessTable()
        table.insert(TrackedProcess(pid: 20, ppid: 1, executable: "/bin/sh"))
        table.apply(.exec(ProcessExec(
            header: h(.exec, pid: 20, ppid: 1), result: -2, startTimeNanoseconds: 0, filename: "/nope", executable: "",
            argv: [], argc: 0, cwd: "", environment: [])))
        XCTAssertEqual(table[20]?.executable, "/bin/sh")
    }

    func testCapacityIsBounded() {
        var table = ProcessTable(capacity: 100)
        for pid in 1...1000 {
            table.apply(.fork(ProcessFork(header: h(.fork, pid: 1, ppid: 0), childPID: Int32(pid), childStartTimeNanoseconds: UInt64(pid))))
        }
        XCTAssertLessThanOrEqual(table.count, 100)
    }

    func testCycleInParentsTerminates() {
        var table = ProcessTable()
        table.insert(TrackedProcess(pid: 1, ppid: 2))
        table.insert(TrackedProcess(pid: 2, ppid: 1))
        XCTAssertEqual(table.lineage(of: 1).count, 2)
    }

    func testProcSeedingSeesThisProcess() throws {
        let me = try XCTUnwrap(ProcSeeder.read(pid: getpid()))
        XCTAssertEqual(me.ppid, getppid())
        XCTAssertFalse(me.executable.isEmpty)
        XCTAssertFalse(me.argv.isEmpty)
        XCTAssertGreaterThan(me.startTimeNanoseconds, 0)
        XCTAssertTrue(ProcSeeder.snapshot().contains { $0.pid == 1 })
        XCTAssertNil(ProcSeeder.read(pid: 0x3fff_fff0))
    }

    func testStatParsingWithAwkwardNames() {
        let stat = Array("123 (a) b (c)) S 77 1 1 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10".utf8)
        let parsed = ProcSeeder.parseStat(stat)
        XCTAssertEqual(parsed?.ppid, 77)
        XCTAssertEqual(parsed?.startTicks, 98765)
        XCTAssertNil(ProcSeeder.parseStat(Array("garbage".utf8)))
        XCTAssertNil(ProcSeeder.parseStat(Array("1 (x) S".utf8)))
    }
}
