#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbityEvents
import ProbityProcess

/// Attributes processes to packages with a ``PathIndex``. Attribution is state carried by the
/// process, not recomputed from its ancestors: set at exec, inherited at fork, forgotten at exit
/// (docs/attribution.md).
///
/// In order of authority:
/// 1. a process keeps its attribution across fork, re-parenting, setsid, chdir and a cleared
///    environment: at exec, the attribution it inherited at fork is the *base*;
/// 2. at exec, package code takes over: an application package's executable, an interpreter
///    running a package's script, `python -m` a package's module;
/// 3. otherwise the base stays: a distribution tool (`cat`, `curl`, `sh -c`, a script no package
///    owns) acts for whoever ran it;
/// 4. the environment (`npm_package_name`) and the working directory (a PKG-INFO, a package's
///    directory) only narrow: from the workspace, from unattributed code or from a package
///    manager to a package that is not a package manager; never from one package to another;
/// 5. with no base (probityd, a process whose ancestry carries nothing): the executable's system
///    package (`system-executable`), else unattributed.
///
/// Two modes: probityd's (no root: the host's own tools are `system-executable`) and
/// `probity run`'s, where ``seedWorkspace(pid:command:)`` marks the command as the workspace
/// before it execs, so nothing it starts falls back to a system package.
public struct Attributor: Sendable {
    public private(set) var index: PathIndex
    private var byPID: [Int32: Attribution] = [:]
    private var packagesByName: [String: [UInt32]] = [:]
    private let sitePackages: [String]

    /// An attributor over `index`; `sitePackages` are searched for `python -m MODULE` after the
    /// interpreter's own (its venv's or installation's).
    public init(index: PathIndex, sitePackages: [String] = PythonDistributions.defaultSitePackages()) {
        self.index = index
        self.sitePackages = sitePackages
        indexNames()
    }

    private mutating func indexNames() {
        packagesByName = [:]
        for (i, p) in index.packages.enumerated() { packagesByName[p.name, default: []].append(UInt32(i)) }
    }

    /// The attribution of `pid`, as last computed.
    public subscript(pid: Int32) -> Attribution? { byPID[pid] }

    /// `probity run` / `probity learn`: `pid` (the command, not yet executed) is the workspace.
    /// Everything it starts stays the workspace unless package code takes over.
    @discardableResult
    public mutating func seedWorkspace(pid: Int32, command: [String]) -> Attribution {
        let attribution = Attribution.workspace(evidence: "probity run -- " + SecretRedaction.redact(command).prefix(8).joined(separator: " "))
        byPID[pid] = attribution
        return attribution
    }

    /// Attributes with `index` from now on; processes keep the attributions they have.
    public mutating func replaceIndex(_ index: PathIndex) {
        self.index = index
        indexNames()
    }

    /// Updates the cache from an event (after the process table has applied it) and returns the
    /// attribution of the event's process.
    public mutating func apply(_ event: Event, table: ProcessTable) -> Attribution {
        switch event {
        case .fork(let f):
            let parent = byPID[f.header.pid] ?? attributeExisting(f.header.pid, table: table, depth: 0)
            byPID[f.childPID] = Self.inherited(from: parent, pid: f.header.pid)
            return parent
        case .exec(let e) where e.succeeded:
            // The process's own attribution; for one whose fork was not seen, its parent's.
            var base = byPID[e.header.pid]
            if base == nil, e.header.ppid > 0, table[e.header.ppid] != nil {
                base = Self.inherited(from: attributeExisting(e.header.ppid, table: table, depth: 1), pid: e.header.ppid)
            }
            let a = decide(
                executable: e.executable, filename: e.filename, argv: e.argv, cwd: e.cwd, environment: e.environment, base: base)
            byPID[e.header.pid] = a
            return a
        case .exit(let x):
            let a = byPID[x.header.pid] ?? .unattributed
            byPID[x.header.pid] = nil
            return a
        default:
            if let a = byPID[event.pid] { return a }
            return attributeExisting(event.pid, table: table, depth: 0)
        }
    }

    /// What a child gets at fork: a package's attribution becomes `inherited` (naming the parent);
    /// the workspace, a system executable and unattributed code pass on as they are.
    static func inherited(from parent: Attribution, pid: Int32) -> Attribution {
        guard parent.package != nil, parent.reason != .inherited, parent.reason != .systemExecutable else { return parent }
        return Attribution(
            package: parent.package, reason: .inherited, evidence: "pid \(pid)", executablePackage: parent.executablePackage)
    }

    /// A process seen for the first time after it started (seeded from /proc, or its fork was not
    /// seen): its parent's attribution (computed the same way, once) is its base, and its current
    /// image decides as an exec would. Bounded, and cached.
    private mutating func attributeExisting(_ pid: Int32, table: ProcessTable, depth: Int) -> Attribution {
        if let known = byPID[pid] { return known }
        guard depth < 64, let p = table[pid] else { return .unattributed }
        var base: Attribution?
        if p.ppid > 0, p.ppid != pid, table[p.ppid] != nil {
            base = Self.inherited(from: attributeExisting(p.ppid, table: table, depth: depth + 1), pid: p.ppid)
        }
        let a = decide(executable: p.executable, filename: p.executable, argv: p.argv, cwd: p.cwd, environment: [], base: base)
        byPID[pid] = a
        return a
    }

    // MARK: - The decision at exec

    /// What a base attribution lets happen at exec.
    enum Role {
        /// No base: nothing, unattributed code, or a system executable (probityd).
        case none
        /// The monitored command's own code.
        case workspace
        /// A package manager or build frontend: runs other packages' code, which may narrow.
        case manager
        /// A package's code: keeps it unless another package's code takes over.
        case package
    }

    static func role(of attribution: Attribution?) -> Role {
        guard let attribution else { return .none }
        if attribution.reason == .workspace { return .workspace }
        guard let package = attribution.package, attribution.reason != .systemExecutable else { return .none }
        return isPackageManager(package) ? .manager : .package
    }

    /// A candidate attribution: the package, why, and the evidence.
    struct Finding {
        var package: InstalledPackage
        var reason: Attribution.Reason
        var evidence: String
    }

    func decide(
        executable: String, filename: String, argv: [String], cwd: String, environment: [String], base: Attribution?
    ) -> Attribution {
        let exeOwners = index.owners(of: executable).map(\.package)
        let exeOwner = exeOwners.first { $0.source != .dpkg } ?? exeOwners.first
        func make(_ f: Finding) -> Attribution {
            Attribution(package: f.package, reason: f.reason, evidence: f.evidence, executablePackage: exeOwner == f.package ? nil : exeOwner)
        }
        var notes: [String] = []
        var role = Self.role(of: base)
        // 2. Package code takes over; a package manager run by a package's code does not (the
        // package stays responsible for what it makes the manager do).
        var decided: Attribution?
        if let code = codeOwner(executable: executable, exeOwners: exeOwners, filename: filename, argv: argv, cwd: cwd) {
            if role == .package && Self.isPackageManager(code.package) {
                notes.append("runs \(code.package.name) (\(code.evidence))")
            } else {
                decided = make(code)
                role = Self.role(of: decided)
            }
        }
        // 4. The environment and the working directory narrow, never widen.
        if let claim = claim(environment: environment, cwd: cwd) {
            let current = decided?.package ?? base?.package
            if role == .package {
                if claim.package.name != current?.name && claim.reason != .workingDirectory {
                    notes.append("ignored: \(claim.evidence) (code of \(current?.name ?? "?") does not become another package's)")
                }
            } else if Self.claimsPackageManager(claim.package.name) {
                if claim.reason != .workingDirectory {
                    notes.append("ignored: \(claim.evidence) (names a package manager)")
                }
            } else {
                return make(claim)
            }
        }
        func noted(_ a: Attribution) -> Attribution {
            guard !notes.isEmpty else { return a }
            return Attribution(
                package: a.package, reason: a.reason, evidence: ([a.evidence] + notes).joined(separator: "; "),
                executablePackage: a.executablePackage)
        }
        if let decided { return noted(decided) }
        // 3. The base stays: a distribution tool or unowned code acts for whoever ran it.
        if let base, Self.role(of: base) != .none {
            let owner = exeOwner == base.package ? nil : exeOwner
            return noted(base.with(executablePackage: owner))
        }
        // 5. No base: a system package's executable, else nothing.
        if let owner = exeOwner { return noted(Attribution(package: owner, reason: .systemExecutable, evidence: executable, executablePackage: nil)) }
        return noted(Attribution(package: nil, reason: .unattributed, evidence: executable, executablePackage: nil))
    }

    /// Package code in the new image: an application package's executable, a package manager's
    /// program, an interpreter's script or module.
    func codeOwner(executable: String, exeOwners: [InstalledPackage], filename: String, argv: [String], cwd: String) -> Finding? {
        if let owner = exeOwners.first(where: { $0.source != .dpkg }) { return Finding(package: owner, reason: .executable, evidence: executable) }
        if let manager = managerProgram(executable, owners: exeOwners, followingLinks: false) {
            return Finding(package: manager, reason: .executable, evidence: executable)
        }
        // The interpreter is recognised by the file the kernel ran (a venv's `bin/python` is a
        // symlink: this is its target), never by argv[0] or the name it was started as.
        guard let script = Self.script(executable: executable, argv: argv) else { return nil }
        switch script {
        case .file(let path):
            let absolute = path.hasPrefix("/") ? path : PathText.join(directory: cwd, relative: path)
            let owners = index.owners(of: absolute).map(\.package)
            if let owner = owners.first(where: { $0.source != .dpkg }) { return Finding(package: owner, reason: .script, evidence: absolute) }
            if let manager = managerProgram(absolute, owners: owners, followingLinks: true) {
                return Finding(package: manager, reason: .script, evidence: absolute)
            }
            if owners.isEmpty, let owner = Self.venvScriptOwner(absolute) {
                return Finding(package: owner, reason: .script, evidence: absolute + " (RECORD of a venv made after the index)")
            }
            return nil
        case .module(let name):
            // `python -m ensurepip` (what `python -m venv` runs) installs the pip wheel bundled
            // with the interpreter: pip's code, from the interpreter's own standard library.
            if name == "ensurepip", let pip = Self.bundledPip(interpreter: executable) {
                return Finding(package: pip, reason: .script, evidence: "-m ensurepip (\(pip.root ?? "")), the interpreter's bundled pip")
            }
            let candidates = [filename, argv.first ?? "", executable].filter { !$0.isEmpty && $0.contains("/") }.map {
                $0.hasPrefix("/") ? $0 : PathText.join(directory: cwd, relative: $0)
            }
            return pythonModuleOwner(name, interpreters: candidates).map { Finding(package: $0, reason: .script, evidence: "-m \(name)") }
        }
    }

    /// What the environment and the working directory claim: npm lifecycle variables, a PKG-INFO
    /// (an sdist being built), the working directory inside a package's directory.
    func claim(environment: [String], cwd: String) -> Finding? {
        if let name = Self.value("npm_package_name", in: environment), !name.isEmpty {
            let version = Self.value("npm_package_version", in: environment)
            let known = packagesByName[name]?.map { index.packages[Int($0)] }
                .first { $0.source == .npm && (version == nil || $0.version == version) }
            let package = known ?? InstalledPackage(name: name, version: version, ecosystem: "npm", source: .npm)
            let event = Self.value("npm_lifecycle_event", in: environment) ?? "script"
            return Finding(package: package, reason: .npmLifecycle, evidence: "npm \(event) of \(name)")
        }
        if let build = Self.pythonBuild(cwd: cwd) { return Finding(package: build, reason: .pythonBuild, evidence: cwd + "/PKG-INFO") }
        if let owner = index.owner(of: cwd), owner.package.source != .dpkg, case .root = owner.match {
            return Finding(package: owner.package, reason: .workingDirectory, evidence: cwd)
        }
        return nil
    }

    // MARK: - Package managers

    /// Package managers and build frontends / backends: the code that legitimately runs other
    /// packages' code, by ecosystem (names normalised: lower case, `_` and `.` as `-`).
    static let packageManagers: [String: Set<String>] = [
        "npm": ["npm", "npx", "yarn", "pnpm", "corepack", "node-gyp"],
        "pypi": [
            "pip", "pipx", "setuptools", "wheel", "build", "pyproject-hooks", "poetry", "poetry-core", "hatchling",
            "flit-core", "pdm", "pdm-backend", "uv", "scikit-build-core", "maturin", "meson-python",
        ],
        "deb": [
            "npm", "yarnpkg", "node-gyp", "python3-pip", "pipx", "python3-setuptools", "python3-wheel", "python3-build",
            "python3-pyproject-hooks", "python3-poetry", "python3-poetry-core", "python3-hatchling", "python3-flit-core",
        ],
    ]

    private static let allPackageManagers: Set<String> = packageManagers.values.reduce(into: []) { $0.formUnion($1) }

    static func normalised(_ name: String) -> String {
        String(name.lowercased().map { $0 == "_" || $0 == "." ? "-" : $0 })
    }

    /// Whether `package` is a package manager or build frontend (in its own ecosystem).
    public static func isPackageManager(_ package: InstalledPackage) -> Bool {
        let name = normalised(package.name)
        if let names = packageManagers[package.ecosystem.lowercased()] { return names.contains(name) }
        return allPackageManagers.contains(name)
    }

    /// Whether a name claimed by the environment or a PKG-INFO is a package manager's in any
    /// ecosystem (contracts select package managers by name alone).
    static func claimsPackageManager(_ name: String) -> Bool {
        allPackageManagers.contains(normalised(name))
    }

    /// A package manager's own program installed by the system: a dpkg package that is one
    /// (`python3-pip`), or a file under `node_modules/npm/` (or yarn, corepack...) that another
    /// dpkg package ships (npm inside `nodejs`), found through symlinks (`/usr/bin/npm`) when
    /// `followingLinks` (scripts; the kernel already resolved an executable).
    func managerProgram(_ path: String, owners: [InstalledPackage], followingLinks: Bool) -> InstalledPackage? {
        guard !owners.isEmpty else { return nil }
        if let manager = owners.first(where: Self.isPackageManager) { return manager }
        var resolved = path
        if followingLinks, let real = realpath(path, nil) {
            resolved = String(cString: real)
            free(real)
        }
        let parts = resolved.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count > 2 else { return nil }
        for i in 0..<(parts.count - 2) where parts[i] == "node_modules" {
            let name = String(parts[i + 1])
            guard Self.packageManagers["npm"]?.contains(name) == true else { continue }
            return InstalledPackage(
                name: name, version: nil, ecosystem: "npm", source: .dpkg,
                root: parts[...(i + 1)].joined(separator: "/"))
        }
        return nil
    }

    // MARK: - Interpreters

    enum Script: Equatable { case file(String), module(String) }

    enum InterpreterKind { case python, shell, other }

    /// The kind of interpreter a path names (its last component), if it is one.
    static func interpreterKind(_ path: String) -> InterpreterKind? {
        let base = path.split(separator: "/").last.map(String.init) ?? ""
        if base.hasPrefix("python") { return .python }
        if ["sh", "bash", "dash", "zsh", "ksh", "mksh"].contains(base) { return .shell }
        if base == "node" || base == "nodejs" || base.hasPrefix("perl") || base.hasPrefix("ruby") { return .other }
        return nil
    }

    /// The script or module an interpreter was started with, if `executable` is an interpreter;
    /// nil for inline code (`-c`, `-e`) and standard input.
    static func script(executable: String, argv: [String]) -> Script? {
        guard let kind = interpreterKind(executable) else { return nil }
        let isPython = kind == .python
        let isOther = kind == .other
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

    /// The pip distribution whose top-level directory or module file is `module`'s first
    /// component: searched in each interpreter's own site-packages first (PREFIX/bin/python →
    /// PREFIX/lib/python3.X/site-packages: a venv, found by the path it was started as, since the
    /// kernel reports the resolved interpreter), then the system's.
    func pythonModuleOwner(_ module: String, interpreters: [String]) -> InstalledPackage? {
        let top = module.split(separator: ".").first.map(String.init) ?? module
        guard !top.isEmpty else { return nil }
        var sites: [String] = []
        for interpreter in interpreters {
            let prefix = ((interpreter as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
            guard prefix.count > 1, let lib = try? FileManager.default.contentsOfDirectory(atPath: prefix + "/lib") else { continue }
            for version in lib.sorted() where version.hasPrefix("python3") {
                for leaf in ["site-packages", "dist-packages"] where !sites.contains("\(prefix)/lib/\(version)/\(leaf)") {
                    sites.append("\(prefix)/lib/\(version)/\(leaf)")
                }
            }
        }
        sites += sitePackages.filter { !sites.contains($0) }
        for site in sites {
            for candidate in ["\(site)/\(top)/__init__.py", "\(site)/\(top).py", "\(site)/\(top)"] {
                let owners = index.owners(of: candidate).map(\.package)
                if let owner = owners.first(where: { $0.source == .pip }) { return owner }
                if let manager = owners.first(where: Self.isPackageManager) { return manager }
            }
        }
        return nil
    }

    /// The distribution whose RECORD lists `script`, a console script in the `bin` of a venv (a
    /// directory with `pyvenv.cfg`) that the index does not know: one made by the command after
    /// the packages were read (`python3 -m venv venv && venv/bin/pip install ...`). The same
    /// evidence the index takes from a venv found at start (RECORD's `../../bin/NAME`).
    static func venvScriptOwner(_ script: String) -> InstalledPackage? {
        let bin = (script as NSString).deletingLastPathComponent
        guard (bin as NSString).lastPathComponent == "bin" else { return nil }
        let prefix = (bin as NSString).deletingLastPathComponent
        let fm = FileManager.default
        guard prefix.count > 1, fm.fileExists(atPath: prefix + "/pyvenv.cfg"),
              let lib = try? fm.contentsOfDirectory(atPath: prefix + "/lib") else { return nil }
        for version in lib.sorted() where version.hasPrefix("python3") {
            let site = "\(prefix)/lib/\(version)/site-packages"
            for entry in ((try? fm.contentsOfDirectory(atPath: site)) ?? []).sorted() where entry.hasSuffix(".dist-info") {
                guard let data = DatabaseFiles.read("\(site)/\(entry)/RECORD", warn: { _ in }) else { continue }
                let listed = data.split(separator: UInt8(ascii: "\n")).contains { row in
                    guard let relative = PythonDistributions.firstCSVField(row),
                          case .success(let path) = PythonDistributions.recordedPath(relative, base: site, prefix: prefix) else { return false }
                    return path == script
                }
                guard listed, let meta = PythonDistributions.readMetadata("\(site)/\(entry)/METADATA") else { continue }
                return InstalledPackage(name: meta.name, version: meta.version, ecosystem: "pypi", source: .pip, root: "\(site)/\(entry)")
            }
        }
        return nil
    }

    /// The pip that `ensurepip` in the standard library of `interpreter` (the file the kernel
    /// ran, so PREFIX/bin/python3.X → PREFIX/lib/python3.X/ensurepip) installs: its bundled wheel
    /// (`_bundled/pip-VERSION-*.whl`, Debian: the python-wheels it points to) is pip's code, run
    /// by ensurepip in a child `python -c` from a temporary copy. nil when the interpreter has no
    /// ensurepip of its own.
    static func bundledPip(interpreter: String) -> InstalledPackage? {
        guard interpreter.hasPrefix("/") else { return nil }
        let prefix = ((interpreter as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
        guard prefix.count > 1, let lib = try? FileManager.default.contentsOfDirectory(atPath: prefix + "/lib") else { return nil }
        for version in lib.sorted() where version.hasPrefix("python3") {
            let root = "\(prefix)/lib/\(version)/ensurepip"
            guard FileManager.default.fileExists(atPath: root + "/__init__.py") else { continue }
            let wheels = (try? FileManager.default.contentsOfDirectory(atPath: root + "/_bundled")) ?? []
            let wheel = wheels.first { $0.hasPrefix("pip-") && $0.hasSuffix(".whl") }
            let pipVersion = wheel.flatMap { $0.split(separator: "-").dropFirst().first.map(String.init) }
            return InstalledPackage(name: "pip", version: pipVersion, ecosystem: "pypi", source: .pip, root: root)
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
