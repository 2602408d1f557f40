// The path → package index: build time, lookups per second and resident memory for 1M paths,
// each printed beside a baseline measured in the same run (a plain Set<String> of the same
// paths), as the machines are shared and noisy.
#if canImport(Glibc)
import Glibc
#endif
import ProbityAttribution

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func residentBytes() -> Int {
    guard let f = fopen("/proc/self/statm", "r") else { return 0 }
    defer { fclose(f) }
    var size = 0, resident = 0
    _ = withUnsafeMutablePointer(to: &size) { s in withUnsafeMutablePointer(to: &resident) { r in
        withVaList([s, r]) { vfscanf(f, "%d %d", $0) }
    } }
    return resident * Int(sysconf(Int32(_SC_PAGESIZE)))
}

let fileCount = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 1_000_000
// Paths shaped like a real tree: 40 files per directory, directories 5 levels deep.
func path(_ i: Int) -> String {
    let dir = i / 40
    return "/usr/lib/pkg\(dir % 997)/share/d\(dir / 997)/module\(dir % 13)/file-\(i % 40).py"
}
let paths = (0..<fileCount).map(path)
let rssBefore = residentBytes()

var t0 = now()
var index = PathIndex()
var owner: UInt32 = 0
for (i, p) in paths.enumerated() {
    if i % 100 == 0 { owner = index.add(InstalledPackage(name: "pkg\(i / 100)", version: "1.0", ecosystem: "pypi", source: .pip)) }
    index.addFile(p, package: owner)
}
let buildSeconds = now() - t0
let rssIndex = residentBytes() - rssBefore

t0 = now()
let set = Set(paths)
let baselineBuild = now() - t0
let rssSet = residentBytes() - rssBefore - rssIndex

var probes = (0..<2_000_000).map { paths[($0 &* 7919) % paths.count] }
probes.shuffle()
t0 = now()
var found = 0
for p in probes where index.ownerID(of: p) != nil { found += 1 }
let lookupSeconds = now() - t0
t0 = now()
var baselineFound = 0
for p in probes where set.contains(p) { baselineFound += 1 }
let baselineLookup = now() - t0
precondition(found == probes.count && baselineFound == probes.count)

let mib = 1024.0 * 1024.0
print("index of \(fileCount) paths")
print(String(format: "  build          %6.2f s          (Set<String> %.2f s, ratio %.2fx)", buildSeconds, baselineBuild, buildSeconds / baselineBuild))
print(String(format: "  lookups        %6.2f M/s        (Set<String> %.2f M/s, ratio %.2fx)   target >= 2 M/s",
             Double(probes.count) / lookupSeconds / 1e6, Double(probes.count) / baselineLookup / 1e6, baselineLookup / lookupSeconds))
print(String(format: "  resident       %6.1f MiB        (Set<String> %.1f MiB, ratio %.2fx)   target <= 64 MiB",
             Double(rssIndex) / mib, Double(rssSet) / mib, Double(rssIndex) / Double(max(rssSet, 1))))
