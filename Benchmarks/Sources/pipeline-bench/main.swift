// pipeline-bench: the user-space cost per event of what `probity trace --json` does on its
// processing thread (decode → process table → attribution → JSON lines), on synthetic records
// shaped like make bench's workload (b): one process opening distinct files.
//
// Baseline, measured in the same run: a minimal consumer that reads each record's header and
// path length, as the C floor's reader does. Figures are nanoseconds per event and the ratio
// to the baseline; the best of seven rounds, in CPU time of the thread.
//
//     swift build -c release --product pipeline-bench && .build/release/pipeline-bench [EVENTS]
#if canImport(Glibc)
import Glibc
#endif
import CProbityBPF
import ProbityEvents
import ProbityMonitor
import ProbityPipeline
import ProbitySinks

let events = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 200_000 : 200_000
let perBatch = 4096

func header(_ kind: probity_kind, pid: UInt32, time: UInt64) -> probity_header {
    probity_header(time_ns: time, kind: UInt32(kind.rawValue), flags: 0, pid: pid, tid: pid, ppid: 1, uid: 0, gid: 0, _pad0: 0, cgroup_id: 1)
}

func append<T>(_ fixed: T, tail: [UInt8], to batch: inout RecordBatch) {
    var bytes = withUnsafeBytes(of: fixed) { Array($0) }
    bytes.append(contentsOf: tail)
    bytes.withUnsafeBytes { batch.append($0) }
}

func dentry(_ path: String) -> [UInt8] { path.split(separator: "/").reversed().flatMap { Array($0.utf8) + [0] } }

/// The workload's records: the exec of the loop, then its opens of distinct files.
func makeBatches() -> [RecordBatch] {
    var batches: [RecordBatch] = []
    var batch = RecordBatch()
    let pid: UInt32 = 4242
    let filename = Array("/tmp/cfloor/syscall-load".utf8) + [0]
    let exe = dentry("/tmp/cfloor/syscall-load")
    let argv = Array("syscall-load\0open-unique\0200000\0".utf8)
    let cwd = dentry("/work/main")
    var e = probity_exec()
    e.hdr = header(PROBITY_KIND_EXEC, pid: pid, time: 1_000)
    e.start_time_ns = 900
    e.argc = 3
    e.syscall = UInt16(PROBITY_SYS_EXECVE.rawValue)
    e.filename_len = UInt16(filename.count)
    e.exe_len = UInt16(exe.count)
    e.argv_len = UInt16(argv.count)
    e.cwd_len = UInt16(cwd.count)
    append(e, tail: filename + exe + argv + cwd, to: &batch)
    for i in 0..<events {
        let path = Array("/tmp/syscall-load.d/f\(i)".utf8) + [0]
        var o = probity_open()
        o.hdr = header(PROBITY_KIND_OPEN, pid: pid, time: 2_000 + UInt64(i) * 1_000)
        o.result = 3
        o.open_flags = 0
        o.dirfd = -100
        o.count = 1
        o.syscall = UInt16(PROBITY_SYS_OPENAT.rawValue)
        o.path_len = UInt16(path.count)
        append(o, tail: path, to: &batch)
        if batch.count == perBatch {
            batches.append(batch)
            batch = RecordBatch()
        }
    }
    if !batch.isEmpty { batches.append(batch) }
    return batches
}

/// CPU time of this thread (steal by the host's other guests is not counted), best of 7 rounds.
func nanoseconds(_ body: () -> Void) -> Double {
    func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return Double(t.tv_sec) * 1e9 + Double(t.tv_nsec)
    }
    var best = Double.infinity
    for _ in 0..<7 {
        let start = now()
        body()
        best = min(best, now() - start)
    }
    return best / Double(events + 1)
}

let batches = makeBatches()
let devNull = open("/dev/null", O_WRONLY)
let index = try AttributionSetup.index(sboms: [], root: "/", verbose: false)

var sink: UInt64 = 0
let baseline = nanoseconds {
    for batch in batches {
        batch.forEach { record in
            let h = record.loadUnaligned(as: probity_header.self)
            if h.kind == UInt32(PROBITY_KIND_OPEN.rawValue) {
                sink &+= UInt64(record.loadUnaligned(fromByteOffset: 0, as: probity_open.self).path_len)
            }
            sink &+= h.time_ns
        }
    }
}
let decode = nanoseconds {
    for batch in batches {
        batch.forEach { record in
            if let event = try? EventDecoder.decode(record) { sink &+= event.header.bootTimeNanoseconds }
        }
    }
}
let process = nanoseconds {
    let processor = EventProcessor(attributionIndex: index)
    for batch in batches {
        processor.process(batch) { event, context in sink &+= UInt64(context.process?.pid ?? 0) }
    }
}
let json = nanoseconds {
    let processor = EventProcessor(attributionIndex: index)
    let encoder = EventJSONEncoder(fd: devNull)
    for batch in batches {
        processor.process(batch) { event, context in
            encoder.write(event, process: context.process, attribution: context.attribution)
        }
    }
    encoder.flush()
}
func line(_ name: String, _ ns: Double) -> String {
    name.padding(toLength: 44, withPad: " ", startingAt: 0) + String(format: "%8.0f ns/event %8.1fx", ns, ns / baseline)
}
print("pipeline-bench: \(events) opens of distinct files, per event (CPU time, best of 7); baseline: read header + path length")
print(line("baseline (minimal reader)", baseline))
print(line("decode", decode))
print(line("decode + process table + attribution", process))
print(line("... + JSON line (probity trace --json)", json))
if sink == 42 { print("") }
