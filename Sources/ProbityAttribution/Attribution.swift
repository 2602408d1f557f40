/// Which package is responsible for a process, and why.
///
/// Immutable and shared: every event of a process carries the same instance, so handing it on
/// costs one reference count, not a copy of every string in it.
public final class Attribution: Sendable, Hashable {
    /// Why the package was chosen (`attribution.reason` in events).
    public enum Reason: String, Sendable, Hashable {
        /// The executable file belongs to an application package (pip, npm, SBOM), or is a
        /// package manager's own program.
        case executable
        /// An interpreter (python, node, sh, perl, ruby) runs a script or module of the package.
        case script
        /// npm runs one of the package's lifecycle scripts (`npm_package_name` in the environment).
        case npmLifecycle = "npm-lifecycle"
        /// A Python sdist being built (PEP 517 / setup.py): its PKG-INFO names the package.
        case pythonBuild = "python-build"
        /// The working directory lies inside the package's directory.
        case workingDirectory = "working-directory"
        /// Inherited from the process that forked it (the package's code started it).
        case inherited
        /// The command given to `probity run` and whatever it runs that no package owns: the
        /// project's own code. No package.
        case workspace
        /// The executable belongs to a system package (dpkg) and nothing more specific applied
        /// (probityd's view of the host's own services).
        case systemExecutable = "system-executable"
        /// Nothing matched.
        case unattributed
    }

    /// The package responsible; nil for the workspace and for unattributed code.
    public let package: InstalledPackage?
    public let reason: Reason
    /// The file, variable or ancestor that decided it, and claims that were not followed.
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

    /// The workspace: the command `probity run` was given (`evidence`), with no package.
    public static func workspace(evidence: String) -> Attribution {
        Attribution(package: nil, reason: .workspace, evidence: evidence, executablePackage: nil)
    }

    /// Whether this is the workspace (the monitored command's own code) rather than a package.
    public var isWorkspace: Bool { reason == .workspace }

    /// The same package and reason with another evidence text or executable package.
    func with(evidence: String? = nil, executablePackage: InstalledPackage?) -> Attribution {
        let text = evidence ?? self.evidence
        if text == self.evidence && executablePackage == self.executablePackage { return self }
        return Attribution(package: package, reason: reason, evidence: text, executablePackage: executablePackage)
    }

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
