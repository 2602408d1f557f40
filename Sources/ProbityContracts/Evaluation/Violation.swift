import ProbityAttribution
import ProbityProcess

/// A broken rule, with the evidence: which package, which process chain, what it did.
public struct Violation: Sendable, Hashable, Codable {
    /// RFC 3339 wall-clock time of the event (of the first one, when `count` > 1).
    public var time: String
    /// Boot-clock nanoseconds of the event, for ordering.
    public var bootTimeNanoseconds: UInt64
    public var contract: String
    public var rule: String
    /// `network`, `files`, `exec`, `process`, `secrets`.
    public var category: String
    public var severity: Severity
    /// The rule's action; whether it was carried out is `enforced`.
    public var action: RuleAction
    /// True when the action was carried out (enforce mode, `kill` or `deny`).
    public var enforced: Bool
    /// Who carried it out: `kernel` (before the process ran another instruction, or before the
    /// connection was made), `user-space` (a late kill, after the event was reported).
    public var enforcement: String?
    /// One sentence: what happened and why it breaks the rule.
    public var message: String
    public var package: PackageReference?
    public var attribution: AttributionReference
    /// The offending process first, then its ancestors.
    public var processes: [ProcessLink]
    public var evidence: Evidence
    /// Where the rule is written (`file:line:column`).
    public var ruleLocation: String
    /// How many identical violations (same rule, package and target) this one stands for.
    public var count: Int
    /// The user id of the offending process (its real uid at the event), when known: probityd
    /// keeps `retention-rows` per uid, so that one user's flood pushes out only its own.
    public var uid: UInt32?

    public init(
        time: String, bootTimeNanoseconds: UInt64, contract: String, rule: String, category: String, severity: Severity,
        action: RuleAction, enforced: Bool, enforcement: String?, message: String, package: PackageReference?,
        attribution: AttributionReference, processes: [ProcessLink], evidence: Evidence, ruleLocation: String, count: Int,
        uid: UInt32? = nil
    ) {
        self.time = time
        self.bootTimeNanoseconds = bootTimeNanoseconds
        self.contract = contract
        self.rule = rule
        self.category = category
        self.severity = severity
        self.action = action
        self.enforced = enforced
        self.enforcement = enforcement
        self.message = message
        self.package = package
        self.attribution = attribution
        self.processes = processes
        self.evidence = evidence
        self.ruleLocation = ruleLocation
        self.count = count
        self.uid = uid
    }

    /// Violations with the same key are the same finding repeated.
    public var key: String {
        "\(contract)\u{1}\(rule)\u{1}\(package?.purl ?? package?.name ?? "-")\u{1}\(evidence.target)"
    }
}

/// The package a violation is charged to.
public struct PackageReference: Sendable, Hashable, Codable {
    public var name: String
    public var version: String?
    public var purl: String?
    public var ecosystem: String
    public var source: String
    public var direct: Bool?

    public init(_ package: InstalledPackage) {
        name = package.name
        version = package.version
        purl = package.purl
        ecosystem = package.ecosystem
        source = package.source.rawValue
        direct = package.isDirect
    }

    /// `name@version`, or the name alone.
    public var displayName: String { version.map { "\(name)@\($0)" } ?? name }
}

/// Why the package was charged.
public struct AttributionReference: Sendable, Hashable, Codable {
    public var reason: String
    public var evidence: String

    public init(reason: String, evidence: String) {
        self.reason = reason
        self.evidence = evidence
    }
}

/// One process of a violation's chain.
public struct ProcessLink: Sendable, Hashable, Codable {
    public var pid: Int32
    public var executable: String
    public var argv: [String]

    public init(_ process: TrackedProcess) {
        pid = process.pid
        executable = process.executable
        argv = Array(process.argv.prefix(16))
    }

    public init(pid: Int32, executable: String, argv: [String]) {
        self.pid = pid
        self.executable = executable
        self.argv = argv
    }
}

/// What the process did.
public struct Evidence: Sendable, Hashable, Codable {
    /// `exec`, `open`, `connect`, `sendto`, `sendmsg` or `process`.
    public var operation: String
    /// The path judged: for a successful open, the kernel's own path of the opened file.
    public var path: String?
    /// The path as the process passed it, when it differs (`//`, `..`, a symlink, relative).
    public var requestedPath: String?
    /// The opened file's device and inode (`major:minor:inode`), for a successful open.
    public var object: String?
    /// For opens: `read`, `write`, `create`.
    public var access: [String]?
    public var address: String?
    public var port: UInt16?
    public var `protocol`: String?
    /// Names the address was seen to resolve from (DNS answers observed).
    public var hostnames: [String]?
    public var argv: [String]?
    /// The syscall's result (fd, 0, or -errno).
    public var result: Int64?
    /// Integrity findings: the digest the approved set or package database gives, the digest
    /// found, and where the expected one came from (`dpkg`, `pip`, `sbom`).
    public var expectedDigest: String?
    public var foundDigest: String?
    public var digestSource: String?

    public init(operation: String) { self.operation = operation }

    /// The thing acted upon, for grouping identical violations.
    public var target: String {
        if let path { return path }
        if let address { return port.map { "\(address):\($0)" } ?? address }
        return operation
    }
}
