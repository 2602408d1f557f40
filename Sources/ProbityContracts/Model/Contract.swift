import ProbityAttribution

/// A place in a contract file, for error messages and for evidence that names the rule.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }
}

/// How serious a violation is.
public enum Severity: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    case low, medium, high, critical

    private var rank: Int { Self.allCases.firstIndex(of: self) ?? 0 }
    public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rank < rhs.rank }
}

/// What happens when a rule is broken. `kill` and `deny` take effect in enforce mode only;
/// in audit mode every action is an alert.
public enum RuleAction: String, Sendable, Hashable, Codable {
    /// Report the violation.
    case alert
    /// Kill the offending process (exec, files and secrets rules).
    case kill
    /// Refuse the connection (network rules).
    case deny
}

/// What a package is to the project being built, for contracts that match by standing.
public enum Standing: String, Sendable, Hashable, CaseIterable {
    /// A dependency the project names itself.
    case direct
    /// A dependency of a dependency.
    case transitive
    /// Absent from the baseline SBOM.
    case new
    /// In the baseline SBOM with another version.
    case changed
}

/// A set of packages a contract applies to. Every field given must hold; a list holds when any
/// of its entries does.
public struct PackageSelector: Sendable, Hashable {
    /// `match: default`: packages no other contract selects, and unattributed code and the
    /// workspace unless an `unattributed` / `workspace` contract exists.
    public var isDefault = false
    /// `match: unattributed`: code no package owns, outside `probity run`'s workspace.
    public var isUnattributed = false
    /// `match: workspace`: the command given to `probity run` and what it runs that no package
    /// owns (attribution reason `workspace`).
    public var isWorkspace = false
    public var purls: [TextPattern] = []
    public var names: [TextPattern] = []
    public var ecosystems: [String] = []
    public var sources: [InstalledPackage.Source] = []
    public var standings: [Standing] = []

    public init() {}
}

/// A pattern as written in a contract, with its place in the file. Variables (`{home}`,
/// `{tmp}`, `{workspace}`, `{package}`) are expanded when the contract is compiled.
public struct WrittenPattern: Sendable, Hashable {
    public var text: String
    public var location: SourceLocation
}

/// One entry of a network allow or deny list. Every field given must hold.
public struct NetworkEntry: Sendable, Hashable {
    public var hosts: [TextPattern] = []
    public var networks: [AddressRange] = []
    /// `{resolvers}` in `cidr`: the DNS servers of resolv.conf (``ContractVariables/resolvers``),
    /// added to ``networks`` when the contract is compiled. With no networks besides, the entry
    /// still restricts the address: it never means "any address".
    public var resolvers = false
    public var ports: [PortRange] = []
    /// `tcp`, `udp` or `unix`.
    public var protocols: [String] = []
    /// Unix-socket paths.
    public var unixPaths: [WrittenPattern] = []
    public var location: SourceLocation

    public init(location: SourceLocation) { self.location = location }
}

/// `network:` — which destinations the package may connect or send to.
public struct NetworkRule: Sendable, Hashable {
    /// nil: anything not denied is allowed. Empty: nothing is (`network: none`).
    public var allow: [NetworkEntry]?
    public var deny: [NetworkEntry] = []
}

/// The kinds of file access a `files:` rule can govern.
public enum FileAccess: String, Sendable, Hashable, CaseIterable, Codable {
    case read, write, create, delete

    /// 0...3, in declaration order.
    public var index: Int {
        switch self {
        case .read: 0
        case .write: 1
        case .create: 2
        case .delete: 3
        }
    }
}

/// Allow and deny lists for one kind of file access.
public struct AccessLists: Sendable, Hashable {
    /// nil: anything not denied is allowed.
    public var allow: [WrittenPattern]?
    public var deny: [WrittenPattern] = []
}

/// `files:` — per access kind, allow and deny globs.
public struct FileRule: Sendable, Hashable {
    public var access: [FileAccess: AccessLists] = [:]
}

/// `exec:` — which executables may be started.
public struct ExecRule: Sendable, Hashable {
    /// nil: anything not denied. Empty: nothing (`exec: none`).
    public var allow: [WrittenPattern]?
    public var deny: [WrittenPattern] = []
    /// `memory-backed: deny`: a program with no link on disk (`memfd_create`, a deleted file) may
    /// not be started.
    public var memoryBacked = false
}

/// `process:` — behaviour of the package's processes.
public struct ProcessRule: Sendable, Hashable {
    /// A process still running when the monitored command has exited.
    public var outlive = false
    /// A process that left its parent behind (orphaned, reparented) and kept running.
    public var daemonize = false
    /// Writes to persistence locations (cron, systemd units, shell start-up files, ...).
    public var persistence = false
    /// More persistence locations besides the built-in ones.
    public var persistencePaths: [WrittenPattern] = []
    /// System calls through an ABI the probes cannot see (32-bit calls on a 64-bit machine).
    public var unmonitoredSyscalls = false
    /// `python-startup: deny`: writes of Python start-up hooks (`*.pth`, `sitecustomize`,
    /// `usercustomize` in a `site-packages` or `dist-packages` directory), unless an installer
    /// wrote a file a distribution's `RECORD` lists (judged when the writer has long exited, or
    /// at the end of the run).
    public var pythonStartup = false
}

/// `readers:` entry of a `secrets` rule: programs that may read credential files because reading
/// them is their job (ssh its keys, gpg its keyring).
public struct CredentialReaders: Sendable, Hashable {
    /// The executables, as the kernel resolved them (never a process's name or `argv[0]`).
    public var executables: [WrittenPattern]
    /// The credential files they may read; empty: every file the rule guards.
    public var files: [WrittenPattern] = []
    public var location: SourceLocation
}

/// `secrets:` — reads of credentials and of other processes' memory.
public struct SecretsRule: Sendable, Hashable {
    /// The built-in credential files (`~/.ssh`, `~/.aws`, `~/.npmrc`, ...).
    public var credentials = false
    /// Another process's `/proc/PID/environ`, `mem` or `maps`.
    public var processMemory = false
    /// More credential files besides the built-in ones.
    public var paths: [WrittenPattern] = []
    /// Programs that may read (some of) these files, unless their process runs with the dynamic
    /// loader redirected (`LD_PRELOAD`, `LD_AUDIT`, a writable `LD_LIBRARY_PATH`) or from a file
    /// with no link on disk.
    public var readers: [CredentialReaders] = []
}

/// `integrity:` — files executed or loaded that are not what was approved. Judged after the
/// fact, on the hashing thread (docs/integrity.md); the contract of the process that executed or
/// loaded the file decides.
public struct IntegrityRule: Sendable, Hashable {
    /// `changed: deny`: a file whose digest is not the one its package database, SBOM or approved
    /// set records (`hash-mismatch`).
    public var changed = false
    /// `unlisted: deny`: a file in an approved tree that the approved set does not list.
    public var unlisted = false
    /// `unlisted-executable: deny`: a program run from inside an application package's directory
    /// that the package does not list (a dropped binary).
    public var unlistedExecutable = false

    /// Whether the rule denies the finding `kind` (`hash-mismatch`, `unlisted`, `unlisted-executable`).
    public func denies(_ kind: String) -> Bool {
        switch kind {
        case "hash-mismatch": changed
        case "unlisted": unlisted
        case "unlisted-executable": unlistedExecutable
        default: false
        }
    }
}

/// What a rule governs.
public enum RuleBody: Sendable, Hashable {
    case network(NetworkRule)
    case files(FileRule)
    case exec(ExecRule)
    case process(ProcessRule)
    case secrets(SecretsRule)
    case integrity(IntegrityRule)

    /// The section name in the contract language.
    public var category: String {
        switch self {
        case .network: "network"
        case .files: "files"
        case .exec: "exec"
        case .process: "process"
        case .secrets: "secrets"
        case .integrity: "integrity"
        }
    }
}

/// What a rule does not apply to (`except:`).
public struct RuleExceptions: Sendable, Hashable {
    /// Processes running these executables.
    public var executables: [WrittenPattern] = []
    /// Targets: files opened, programs started, Unix sockets.
    public var paths: [WrittenPattern] = []
    /// Network destinations.
    public var destinations: [NetworkEntry] = []

    public init() {}

    public var isEmpty: Bool { executables.isEmpty && paths.isEmpty && destinations.isEmpty }

    public mutating func merge(_ other: RuleExceptions) {
        executables += other.executables
        paths += other.paths
        destinations += other.destinations
    }
}

/// One rule of a contract.
public struct Rule: Sendable, Hashable {
    public var id: String
    public var description: String?
    public var severity: Severity
    public var action: RuleAction
    public var body: RuleBody
    public var exceptions = RuleExceptions()
    public var location: SourceLocation
}

/// `amend:` — exceptions added to an inherited rule without restating it (what `probity learn`
/// writes).
public struct Amendment: Sendable, Hashable {
    public var ruleID: String
    public var exceptions: RuleExceptions
    public var location: SourceLocation
}

/// A contract: which packages it covers and the rules they must keep.
public struct Contract: Sendable, Hashable {
    public var name: String
    public var description: String?
    public var selector: PackageSelector
    /// Another contract whose rules this one starts from; a rule with the same id replaces the
    /// inherited one.
    public var extends: String?
    public var rules: [Rule]
    /// Exceptions added to inherited rules.
    public var amendments: [Amendment] = []
    public var location: SourceLocation
}

/// The contracts of one policy file.
public struct PolicyDocument: Sendable {
    public var file: String
    public var contracts: [Contract]
    /// The names of contracts that could not be read (``PolicyLoader/check(_:file:)``): they
    /// exist, so extending them is not also reported as extending an undefined contract.
    public var unreadableContracts: Set<String> = []
    /// The policies this one is used with (`base:`), loaded after it: `builtin` or paths
    /// (relative ones from the file's own directory). A learnt policy names here the contracts
    /// it extends, so that it is used with them by default.
    public var base: [String] = []

    public init(file: String, contracts: [Contract], unreadableContracts: Set<String> = [], base: [String] = []) {
        self.file = file
        self.contracts = contracts
        self.unreadableContracts = unreadableContracts
        self.base = base
    }
}
