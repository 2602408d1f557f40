import ProbityAttribution
import ProbityContracts
import ProbityEvents
import ProbityMonitor

/// Feeds re-validation from the event stream and turns its findings into violations of the
/// built-in `integrity` contract: executed files and loaded code are queued for hashing; a
/// program run from inside a package's directory that the package does not list, and a `.pth`
/// file written by anything but the Python installers, are findings at once.
final class IntegrityFeed: Sendable {
    let revalidator: Revalidator
    private let catalog: AttributionCatalog
    private let recorder: ViolationRecorder

    /// The feed, and the re-validator it feeds (not started): digests from the site-packages
    /// the daemon discovers (the system's and those under `package-roots`) and from the
    /// configured SBOMs.
    init(configuration: DaemonConfiguration, catalog: AttributionCatalog, recorder: ViolationRecorder) {
        var digests = DigestIndex.discover(sitePackages: PackageDiscovery.sitePackages(configuration.discovery))
        for sbom in configuration.sboms {
            if let document = try? SBOMReader.read(contentsOf: sbom) { digests.addSBOM(document, root: configuration.sbomRoot) }
        }
        digests.addObjects()
        revalidator = Revalidator(digests: digests) { finding in Self.record(finding, catalog: catalog, recorder: recorder) }
        self.catalog = catalog
        self.recorder = recorder
    }

    /// One event from the pipeline thread.
    func consider(_ event: Event, context: EventContext) {
        switch event {
        case .exec(let exec) where exec.succeeded:
            revalidator.consider(exec.executable, pid: exec.header.pid, executable: exec.executable)
            if exec.filename.hasPrefix("/") && exec.filename != exec.executable {
                revalidator.consider(exec.filename, pid: exec.header.pid, executable: exec.executable)
            }
            let index = catalog.index
            for path in [exec.executable, exec.filename] where path.hasPrefix("/") {
                if let owner = index.owner(of: path), owner.package.source != .dpkg, case .root = owner.match {
                    Self.record(Revalidator.Finding(
                        path: path, rule: "unlisted-executable",
                        message: "\(path) runs from inside \(owner.package.name)'s directory but the package does not list it (a dropped binary?)",
                        pid: exec.header.pid, executable: exec.executable, uid: exec.header.uid), catalog: catalog, recorder: recorder)
                    break
                }
            }
        case .open(let open) where open.result >= 0:
            if open.flags.reads, Revalidator.isLoadedCode(open.path) {
                revalidator.consider(open.path, pid: open.header.pid, executable: context.process?.executable ?? "")
            }
            if open.flags.writes || open.flags.creates, open.path.hasSuffix(".pth"), open.path.contains("-packages/"),
               !Self.pythonInstallers.contains(context.attribution?.package?.name.lowercased() ?? "") {
                Self.record(Revalidator.Finding(
                    path: open.path, rule: "new-pth",
                    message: "\(open.path) was written by \(context.attribution?.package?.name ?? "unattributed code"): a .pth file runs code in every Python start",
                    pid: open.header.pid, executable: context.process?.executable ?? "", uid: open.header.uid), catalog: catalog, recorder: recorder)
            }
        default:
            break
        }
    }

    static let pythonInstallers: Set<String> = ["pip", "setuptools", "python3-pip", "uv", "poetry", "pipx", "wheel", "virtualenv"]

    /// A finding as a violation of the built-in `integrity` contract.
    static func record(_ finding: Revalidator.Finding, catalog: AttributionCatalog, recorder: ViolationRecorder) {
        recorder.record(IntegrityViolation.make(finding, owner: catalog.index.owner(of: finding.path)?.package, processes: []))
    }
}
