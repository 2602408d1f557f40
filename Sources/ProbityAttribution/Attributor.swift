import Foundation
import ProbityEvents
import ProbityProcess

/// Which package is responsible for a process, and why.
///
/// Immutable and shared: every event of a process carries the same instance, so handing it on
/// costs one reference count, not a copy of every string in it.
public final class Attribution: Sendable, Hashable {
    /// Why the package was chosen (`attribution.reason` in events).
    public enum Reason: String, Sendable, Hashable {
        /// The executable file belongs to an application package (pip, npm, SBOM).
        case executable
        /// An interpreter (python, node, sh, perl, ruby) runs a script or module of the package.
        case script
        /// npm runs one of the package's lifecycle scripts (`npm_package_name` in the environment).
        case npmLifecycle = "npm-lifecycle"
        /// A Python sdist being built (PEP 517 / setup.py): its PKG-INFO names the package.
        case pythonBuild = "python-build"
        /// The working directory lies inside the package's directory.
        case workingDirectory = "working-directory"
        /// Inherited from the nearest attributed ancestor.
        case inherited
        /// The executable belongs to a system package (dpkg) and nothing more specific applied.
        case systemExecutable = "system-executable"
        /// Nothing matched.
        case unattributed
    }

    public let package: InstalledPackage?
    public let reason: Reason
    /// The file, variable or ancestor that decided it.
    public let evidence: String
    /// The owner of the executable file itself, when it differs from `package`.
    public let executablePackage: InstalledPackage?

    public init(package: InstalledPackage?, reason: Reason, evidence: String, executablePackage: InstalledPackage?) {
        self.package = package
        self.reason = reason
        self.evidence = evidence
        self.executablePackage = executablePackage
    }

    public static let unattributed = Attribution(package: nil, reason: .unattributed, evidence: "", executablePackage: nil)

    public static func == (lhs: Attribution, rhs: Attribution) -> Bool {
        lhs === rhs || (lhs.package == rhs.package && lhs.reason == rhs.reason && lhs.evidence == rhs.evidence
            && lhs.executablePackage == rhs.executablePackage)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(package)
        hasher.combine(reason)
        hasher.combine(evidence)
    }
}

/// Attributes processes to packages with a ``PathIndex``, caching per process: computed at exec,
/// inherited at fork, forgotten at exit.
///
/// Rules, first match wins (docs/attribution.md):
/// 1. the executable belongs to an application package (pip, npm, SBOM);
/// 2. an interpreter's script (`python3 x.py`, `python3 -m mod`, `node x.js`, `sh x.sh`, ...);
/// 3. npm lifecycle variables in the environment captured at exec;
/// 4. a Python build directory (PKG-INFO in the working directory);
/// 5. the working directory inside a package's directory;
/// 6. the nearest attributed ancestor;
/// 7. the executable's system package (dpkg);
/// otherwise unattributed.
public struct Attributor: Sendable {
    public let index: PathIndex
    private var byPID: [Int32: Attribution] = [:]
    private var packagesByName: [String: [UInt32]] = [:]
    private let sitePackages: [String]

    /// An attributor over `index`; `sitePackages` are searched for `python -m MODULE`.
    public init(index: PathIndex, sitePackages: [String] = PythonDistributions.defaultSitePackages()) {
        self.index = index
        self.sitePackages = sitePackages
        for (i, p) in index.packages.enumerated() { packagesByName[p.name, default: []].append(UInt32(i)) }
    }

    /// The attribution of `pid`, as last computed.
    public subscript(pid: Int32) -> Attribution? { byPID[pid] }

    /// Updates the cache from an event (after the process table has applied it) and returns the
    /// attribution of the event's process.
    public mutating func apply(_ event: Event, table: ProcessTable) -> Attribution {
        switch event {
        case .fork(let f):
            let parent = byPID[f.header.pid] ?? attributeExisting(f.header.pid, table: table)
            var child = parent
            if parent.package != nil && parent.reason != .inherited && parent.reason != .systemExecutable {
                child = Attribution(
                    package: parent.package, reason: .inherited, evidence: "pid \(f.header.pid)",
                    executablePackage: parent.executablePackage)
            }
            byPID[f.childPID] = child
            return parent
        case .exec(let e) where e.succeeded:
            let a = attribute(exec: e, table: table)
            byPID[e.header.pid] = a
            return a
        case .exit(let x):
            let a = byPID[x.header.pid] ?? .unattributed
            byPID[x.header.pid] = nil
            return a
        default:
            if let a = byPID[event.pid] { return a }
            let a = attributeExisting(event.pid, table: table)
            byPID[event.pid] = a
            return a
        }
    }

    /// Attribution of a process known only from /proc seeding (running before start).
    private func attributeExisting(_ pid: Int32, table: ProcessTable) -> Attribution {
        guard let p = table[pid] else { return .unattributed }
        return decide(pid: pid, ppid: p.ppid, executable: p.executable, argv: p.argv, cwd: p.cwd, environment: [], table: table)
    }

    private func attribute(exec e: ProcessExec, table: ProcessTable) -> Attribution {
        decide(pid: e.header.pid, ppid: e.header.ppid, executable: e.executable, argv: e.argv, cwd: e.cwd,
               environment: e.environment, table: table)
    }

    private func decide(
        pid: Int32, ppid: Int32, executable: String, argv: [String], cwd: String, environment: [String], table: ProcessTable
    ) -> Attribution {
        let exeOwner = index.owner(of: executable)?.package
        func result(_ p: InstalledPackage?, _ reason: Attribution.Reason, _ evidence: String) -> Attribution {
            Attribution(package: p, reason: reason, evidence: evidence, executablePackage: exeOwner == p ? nil : exeOwner)
        }
        // 1. An application package's own executable.
        if let owner = exeOwner, owner.source != .dpkg { return result(owner, .executable, executable) }
        // 2. An interpreter's script or module.
        if let script = Self.script(executable: executable, argv: argv) {
            switch script {
            case .file(let path):
                let absolute = path.hasPrefix("/") ? path : PathText.join(directory: cwd, relative: path)
                if let owner = index.owner(of: absolute)?.package, owner.source != .dpkg {
                    // A build frontend's hook runner (pip's PEP 517 `_in_process.py`) building an
                    // sdist runs the sdist's code: the sdist is responsible.
                    if Self.buildFrontends.contains(owner.name.lowercased()), let build = Self.pythonBuild(cwd: cwd) {
                        return result(build, .pythonBuild, cwd + "/PKG-INFO")
                    }
                    return result(owner, .script, absolute)
                }
            case .module(let name):
                if let owner = pythonModuleOwner(name, interpreter: executable) { return result(owner, .script, "-m \(name)") }
            }
        }
        // 3. npm lifecycle.
        if let name = Self.value("npm_package_name", in: environment) {
            let version = Self.value("npm_package_version", in: environment)
            let known = packagesByName[name]?.map { index.packages[Int($0)] }.first { $0.source == .npm && (version == nil || $0.version == version) }
            let package = known ?? InstalledPackage(name: name, version: version, ecosystem: "npm", source: .npm)
            let event = Self.value("npm_lifecycle_event", in: environment) ?? "script"
            return result(package, .npmLifecycle, "npm \(event) of \(name)")
        }
        // 4. A Python build directory.
        if let build = Self.pythonBuild(cwd: cwd) { return result(build, .pythonBuild, cwd + "/PKG-INFO") }
        // 5. The working directory inside a package.
        if let owner = index.owner(of: cwd), owner.package.source != .dpkg, case .root = owner.match {
            return result(owner.package, .workingDirectory, cwd)
        }
        // 6. The nearest attributed ancestor.
        var ancestor = ppid
        var seen = Set<Int32>()
        while ancestor > 0, seen.insert(ancestor).inserted, let a = byPID[ancestor] {
            if let p = a.package, a.reason != .systemExecutable, a.reason != .unattributed {
                return result(p, .inherited, "pid \(ancestor)")
            }
            ancestor = table[ancestor]?.ppid ?? 0
        }
        // 7. A system package's executable.
        if let owner = exeOwner { return result(owner, .systemExecutable, executable) }
        return Attribution(package: nil, reason: .unattributed, evidence: executable, executablePackage: nil)
    }

    /// Python packages that run other packages' build code (PEP 517 frontends and backends).
    static let buildFrontends: Set<String> = [
        "pip", "build", "pyproject-hooks", "pyproject_hooks", "setuptools", "wheel", "poetry-core", "hatchling", "flit-core",
    ]

    enum Script { case file(String), module(String) }

    /// The script or module an interpreter was started with, if `executable` is an interpreter.
    static func script(executable: String, argv: [String]) -> Script? {
        let base = executable.split(separator: "/").last.map(String.init) ?? ""
        let isPython = base.hasPrefix("python")
        let isShell = ["sh", "bash", "dash", "zsh", "ksh"].contains(base)
        let isOther = base == "node" || base == "nodejs" || base.hasPrefix("perl") || base.hasPrefix("ruby")
        guard isPython || isShell || isOther else { return nil }
        var i = 1
        while i < argv.count {
            let arg = argv[i]
            if isPython && arg == "-m", i + 1 < argv.count { return .module(argv[i + 1]) }
            if arg == "-c" || arg == "-e" || arg == "--eval" || arg == "-" { return nil }
            if isPython && (arg == "-W" || arg == "-X") { i += 2; continue }
            if isOther && (arg == "-r" || arg == "--require" || arg == "-I") { i += 2; continue }
            if arg.hasPrefix("-") { i += 1; continue }
            return .file(arg)
        }
        return nil
    }

    /// The pip distribution whose top-level directory or module file is `module`'s first component.
    private func pythonModuleOwner(_ module: String, interpreter: String) -> InstalledPackage? {
        let top = module.split(separator: ".").first.map(String.init) ?? module
        var sites = sitePackages
        // A venv's interpreter: VENV/bin/python3 -> VENV/lib/python3.X/site-packages.
        let venv = (interpreter as NSString).deletingLastPathComponent.split(separator: "/").dropLast().joined(separator: "/")
        if FileManager.default.fileExists(atPath: "/\(venv)/pyvenv.cfg"),
           let lib = try? FileManager.default.contentsOfDirectory(atPath: "/\(venv)/lib") {
            sites = lib.filter { $0.hasPrefix("python3") }.map { "/\(venv)/lib/\($0)/site-packages" } + sites
        }
        for site in sites {
            for candidate in ["\(site)/\(top)/__init__.py", "\(site)/\(top).py", "\(site)/\(top)"] {
                if let owner = index.owner(of: candidate)?.package, owner.source == .pip { return owner }
            }
        }
        return nil
    }

    /// An sdist being built: `PKG-INFO` in the working directory (pip unpacks sdists into
    /// `/tmp/pip-*` and runs the build there).
    static func pythonBuild(cwd: String) -> InstalledPackage? {
        guard !cwd.isEmpty, cwd != "/" else { return nil }
        guard let meta = PythonDistributions.readMetadata(cwd + "/PKG-INFO") else { return nil }
        return InstalledPackage(name: meta.name, version: meta.version, ecosystem: "pypi", source: .pip, root: cwd)
    }

    static func value(_ name: String, in environment: [String]) -> String? {
        let prefix = name + "="
        return environment.first { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
    }
}
