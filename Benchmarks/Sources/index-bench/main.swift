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

// A 100k-file SPDX 2.3 JSON SBOM (1k packages owning 100 files each), read and indexed.
let sbomPath = "/tmp/probity-bench-100k.spdx.json"
do {
    var packages: [String] = [], files: [String] = [], relations: [String] = []
    for p in 0..<1000 {
        packages.append("{\"SPDXID\":\"SPDXRef-P\(p)\",\"name\":\"pkg\(p)\",\"versionInfo\":\"1.\(p)\",\"externalRefs\":[{\"referenceCategory\":\"PACKAGE-MANAGER\",\"referenceType\":\"purl\",\"referenceLocator\":\"pkg:pypi/pkg\(p)@1.\(p)\"}]}")
        for f in 0..<100 {
            let id = p * 100 + f
            files.append("{\"SPDXID\":\"SPDXRef-F\(id)\",\"fileName\":\"./usr/lib/python3/dist-packages/pkg\(p)/m\(f).py\",\"checksums\":[{\"algorithm\":\"SHA256\",\"checksumValue\":\"\(String(repeating: "ab", count: 32))\"}]}")
            relations.append("{\"spdxElementId\":\"SPDXRef-P\(p)\",\"relationshipType\":\"CONTAINS\",\"relatedSpdxElement\":\"SPDXRef-F\(id)\"}")
        }
    }
    let json = "{\"spdxVersion\":\"SPDX-2.3\",\"SPDXID\":\"SPDXRef-DOCUMENT\",\"name\":\"bench\",\"packages\":[\(packages.joined(separator: ","))],\"files\":[\(files.joined(separator: ","))],\"relationships\":[\(relations.joined(separator: ","))]}"
    let f = fopen(sbomPath, "w")
    _ = json.withCString { fputs($0, f) }
    fclose(f)
}
t0 = now()
let sbomDocument: SBOMDocument
do { sbomDocument = try SBOMReader.read(contentsOf: sbomPath) } catch { fatalError("\(error)") }
let sbomRead = now() - t0
t0 = now()
var sbomIndex = PathIndex()
let sbomPaths = SBOMIndexing.add(sbomDocument, to: &sbomIndex)
let sbomIndexed = now() - t0
unlink(sbomPath)

let mib = 1024.0 * 1024.0
print("index of \(fileCount) paths")
print(String(format: "  build          %6.2f s          (Set<String> %.2f s, ratio %.2fx)", buildSeconds, baselineBuild, buildSeconds / baselineBuild))
print(String(format: "  lookups        %6.2f M/s        (Set<String> %.2f M/s, ratio %.2fx)   target >= 2 M/s",
             Double(probes.count) / lookupSeconds / 1e6, Double(probes.count) / baselineLookup / 1e6, baselineLookup / lookupSeconds))
print(String(format: "  100k-file SBOM  %6.2f s read + %.2f s indexed = %.2f s (%d paths)   target < 1 s",
             sbomRead, sbomIndexed, sbomRead + sbomIndexed, sbomPaths))
print(String(format: "  resident       %6.1f MiB        (Set<String> %.1f MiB, ratio %.2fx)   target <= 64 MiB",
             Double(rssIndex) / mib, Double(rssSet) / mib, Double(rssIndex) / Double(max(rssSet, 1))))
