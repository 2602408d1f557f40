#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import ProbityAttribution
import ProbityMonitor

/// The daemon's path → package index and where it came from: the package databases, the
/// configured SBOMs, and SBOMs added while running (`load-sbom`). A new index is always built
/// beside the old one and swapped in whole, so the pipeline never sees half of one.
final class AttributionCatalog: Sendable {
    private let configuration: DaemonConfiguration
    private let log: DaemonLog
    private let current: Mutex<PathIndex>
    /// SBOMs added with `load-sbom` since start.
    private let loaded = Mutex<[String]>([])
    /// Held while a new index is built (`load-sbom`, reload), so that one does not undo the other.
    private let building = Mutex<Void>(())
    /// Told of every new index (the monitor's attribution), once the pipeline exists.
    private let subscriber = Mutex<(@Sendable (PathIndex) -> Void)?>(nil)

    init(configuration: DaemonConfiguration, log: DaemonLog) throws {
        self.configuration = configuration
        self.log = log
        current = Mutex(try AttributionSetup.index(
            sboms: configuration.sboms, root: configuration.sbomRoot, verbose: false, discovery: configuration.discovery,
            log: { log($0, priority: 4) }))
    }

    /// The index in force.
    var index: PathIndex { current.withLock { $0 } }

    /// The configured SBOMs, then those loaded since start.
    var sboms: [String] { configuration.sboms + loaded.withLock { $0 } }

    /// `body` is called with every index swapped in from now on.
    func onChange(_ body: @escaping @Sendable (PathIndex) -> Void) { subscriber.withLock { $0 = body } }

    private func install(_ index: PathIndex) {
        current.withLock { $0 = index }
        subscriber.withLock { $0 }?(index)
    }

    /// Where `load-sbom` may read from, and how much.
    var gate: SBOMFileGate { SBOMFileGate(directories: configuration.sbomDirectories, maximumBytes: configuration.sbomMaxBytes) }

    /// Adds an SBOM's file paths (`load-sbom`, on a control worker thread): read through
    /// ``SBOMFileGate``, added to a copy of the index, swapped in. Returns the answer.
    func load(_ path: String) -> any ControlAnswer {
        let document: SBOMDocument
        do {
            document = try SBOMReader.read(data: try gate.read(path), source: path)
        } catch {
            log("load-sbom refused: \(error)", priority: 4)
            return ControlFailure("\(error)")
        }
        let paths = building.withLock { _ -> Int in
            var index = self.index
            let paths = SBOMIndexing.add(document, to: &index, root: configuration.sbomRoot)
            install(index)
            loaded.withLock { if !$0.contains(path) { $0.append(path) } }
            return paths
        }
        log("loaded SBOM \(path): \(document.components.count) components, \(paths) paths")
        return SBOMLoadedAnswer(format: document.format.rawValue, components: document.components.count, paths: paths,
                                problems: document.problems.map(\.description))
    }

    /// Rebuilds the index from the package databases and every SBOM, and calls `commit` (which
    /// may throw, e.g. reloading the contracts) before swapping it in: all or nothing. An SBOM
    /// that is gone is skipped with a warning; those added with `load-sbom` are read through
    /// ``SBOMFileGate`` again. Returns the warnings.
    func rebuild(_ commit: () throws -> Void) throws -> (index: PathIndex, warnings: [String]) {
        try building.withLock { _ in
            var warnings: [String] = []
            var index = try AttributionSetup.index(
                sboms: [], root: configuration.sbomRoot, verbose: false, discovery: configuration.discovery,
                log: { [log] in log($0, priority: 4) })
            let added = loaded.withLock { $0 }
            for sbom in configuration.sboms + added {
                let document: SBOMDocument
                if added.contains(sbom) && !configuration.sboms.contains(sbom) {
                    do {
                        document = try SBOMReader.read(data: try gate.read(sbom), source: sbom)
                    } catch let error as SBOMFileError where error.errno == ENOENT {
                        warnings.append("\(error); skipped, the SBOM's paths are no longer attributed")
                        continue
                    }
                } else {
                    guard access(sbom, F_OK) == 0 || errno != ENOENT else {
                        warnings.append("\(sbom): does not exist; skipped, the SBOM's paths are no longer attributed")
                        continue
                    }
                    document = try SBOMReader.read(contentsOf: sbom)
                }
                _ = SBOMIndexing.add(document, to: &index, root: configuration.sbomRoot)
            }
            try commit()
            install(index)
            return (index, warnings)
        }
    }
}
