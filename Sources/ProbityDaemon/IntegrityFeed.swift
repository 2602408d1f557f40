import ProbityAttribution
import Synchronization
import ProbityContracts
import ProbityEvents
import ProbityMonitor

/// Feeds re-validation from the event stream and turns its findings into violations of the
/// `integrity:` rules of the contract governing the process that executed or loaded the file
/// (policies/default.yaml: `hash-mismatch`, `unlisted-executable`): executed files and loaded code
/// are queued for hashing; a program run from inside a package's directory that the package does
/// not list is a finding at once. A `.pth` file written by anything but the Python installers is
/// the built-in `integrity/new-pth` (the daemon does not settle `python-startup` rules).
final class IntegrityFeed: Sendable {
    let revalidator: Revalidator
    private let catalog: AttributionCatalog
    private let recorder: ViolationRecorder
    private let contracts: ContractStore
    /// The attribution of each process whose files were queued, for the rule that judges them.
    private let attributions: QueuedBy

    /// The feed, and the re-validator it feeds (not started): digests from the site-packages
    /// the daemon discovers (the system's and those under `package-roots`) and from the
    /// configured SBOMs.
    init(configuration: DaemonConfiguration, catalog: AttributionCatalog, recorder: ViolationRecorder, contracts: ContractStore) {
        var digests = DigestIndex.discover(sitePackages: PackageDiscovery.sitePackages(configuration.discovery))
        for sbom in configuration.sboms {
            if let document = try? SBOMReader.read(contentsOf: sbom) { digests.addSBOM(document, root: configuration.sbomRoot) }
        }
        digests.addObjects()
        let attributions = QueuedBy()
        revalidator = Revalidator(digests: digests) { finding in
            let attribution = attributions.map.withLock { $0[finding.pid] }
            Self.record(finding, attribution: attribution, catalog: catalog, recorder: recorder, contracts: contracts)
        }
        self.catalog = catalog
        self.recorder = recorder
        self.contracts = contracts
        self.attributions = attributions
    }

    /// Remembers who queued a file (pipeline thread).
    private func queued(by pid: Int32, _ attribution: Attribution?) {
        attributions.map.withLock { map in
            if map.count > 65_536 { map.removeAll(keepingCapacity: true) }
            map[pid] = attribution
        }
    }

    /// One event from the pipeline thread.
    func consider(_ event: Event, context: EventContext) {
        switch event {
        case .exec(let exec) where exec.succeeded:
            if revalidator.wouldCheck(exec.executable) || revalidator.wouldCheck(exec.filename) { queued(by: exec.header.pid, context.attribution) }
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
                        pid: exec.header.pid, executable: exec.executable, uid: exec.header.uid),
                        attribution: context.attribution, catalog: catalog, recorder: recorder, contracts: contracts)
                    break
                }
            }
        case .open(let open) where open.result >= 0:
            if open.flags.reads, Revalidator.isLoadedCode(open.path) {
                if revalidator.wouldCheck(open.path) { queued(by: open.header.pid, context.attribution) }
                revalidator.consider(open.path, pid: open.header.pid, executable: context.process?.executable ?? "")
            }
            if open.flags.writes || open.flags.creates, open.path.hasSuffix(".pth"), open.path.contains("-packages/"),
               !Self.pythonInstallers.contains(context.attribution?.package?.name.lowercased() ?? "") {
                Self.record(Revalidator.Finding(
                    path: open.path, rule: "new-pth",
                    message: "\(open.path) was written by \(context.attribution?.package?.name ?? "unattributed code"): a .pth file runs code in every Python start",
                    pid: open.header.pid, executable: context.process?.executable ?? "", uid: open.header.uid),
                    attribution: context.attribution, catalog: catalog, recorder: recorder, contracts: contracts)
            }
        default:
            break
        }
    }

    static let pythonInstallers: Set<String> = ["pip", "setuptools", "python3-pip", "uv", "poetry", "pipx", "wheel", "virtualenv"]

    /// A finding as a violation of the rule that denies it in the contract governing the code
    /// that acted (`attribution`); `new-pth` is built in. Nothing when no rule denies it.
    static func record(
        _ finding: Revalidator.Finding, attribution: Attribution?, catalog: AttributionCatalog, recorder: ViolationRecorder,
        contracts: ContractStore
    ) {
        let owner = catalog.index.owner(of: finding.path)?.package
        if finding.rule == "new-pth" {
            recorder.record(IntegrityViolation.builtIn(finding, owner: owner))
            return
        }
        guard let (rule, contract) = contracts.snapshot.contracts.integrityRule(
            finding.rule, attribution: attribution, path: finding.path, executable: finding.executable) else { return }
        recorder.record(IntegrityViolation.make(finding, rule: rule, contract: contract, owner: owner, processes: []))
    }
}

/// The attribution of each process whose files were queued for hashing: written by the pipeline
/// thread, read by the hashing thread.
final class QueuedBy: Sendable {
    let map = Mutex<[Int32: Attribution]>([:])
}
