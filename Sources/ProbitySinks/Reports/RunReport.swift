import Foundation
import ProbityContracts
import ProbityEvents

/// Everything a finished `probity run` reports: the command, how it ended, what was lost, and the
/// violations (identical ones folded together, with a count).
public struct RunReport: Sendable {
    public var command: [String]
    /// The command's exit status (the shell convention: 128 + signal when killed).
    public var commandStatus: Int32
    /// `audit` or `enforce`.
    public var mode: String
    public var startTime: String
    public var durationSeconds: Double
    /// The policy files in force.
    public var policyFiles: [String]
    /// Events seen, by kind.
    public var eventCounts: [String: UInt64]
    /// Events lost anywhere (kernel reservations that failed, user-space drops).
    public var lostEvents: UInt64
    /// Folded violations, in the order they first happened.
    public var violations: [Violation]
    /// Whether the gate failed, and why (empty when it passed).
    public var failures: [String]
    /// Who the command ran as (nil: not recorded).
    public var commandUser: User?
    /// Processes of the tree the kernel could neither follow nor enforce (a full map).
    public var unwatchedProcesses: UInt64 = 0
    /// The checkout the run worked in (SARIF's `%SRCROOT%`): locations are relative to it.
    public var sourceRoot: String?
    /// The broken rules' descriptions, by `contract/rule` (SARIF's rule help).
    public var ruleDescriptions: [String: String] = [:]

    /// The user the command ran as; `source`: `sudo`, `--user` or `current`.
    public struct User: Sendable, Encodable, Equatable {
        public var uid: UInt32
        public var gid: UInt32
        public var name: String
        public var source: String

        public init(uid: UInt32, gid: UInt32, name: String, source: String) {
            self.uid = uid
            self.gid = gid
            self.name = name
            self.source = source
        }
    }

    /// The command ran as uid 0: nothing stopped it from undoing Probity.
    public var ranAsRoot: Bool { commandUser?.uid == 0 }
    public static let rootWarning = "the command ran as root: it could have turned Probity off (run probity through sudo from the build's user, or give --user)"

    public init(
        command: [String], commandStatus: Int32, mode: String, startTime: String, durationSeconds: Double,
        policyFiles: [String], eventCounts: [String: UInt64], lostEvents: UInt64, violations: [Violation], failures: [String]
    ) {
        self.command = SecretRedaction.redact(command)  // the report is stored and shown: no tokens
        self.commandStatus = commandStatus
        self.mode = mode
        self.startTime = startTime
        self.durationSeconds = durationSeconds
        self.policyFiles = policyFiles
        self.eventCounts = eventCounts
        self.lostEvents = lostEvents
        self.violations = violations
        self.failures = failures
    }

    public var passed: Bool { failures.isEmpty }

    /// The command line as one readable string.
    public var commandLine: String { command.map(Self.shellQuoted).joined(separator: " ") }

    /// Words joined as a shell would read them back.
    public static func shellQuoted(_ words: [String]) -> String { words.map(shellQuoted).joined(separator: " ") }

    static func shellQuoted(_ word: String) -> String {
        let safe = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_./=:,@%+"))
        if !word.isEmpty && word.unicodeScalars.allSatisfy({ safe.contains($0) }) { return word }
        return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

/// Folds repeated violations (same contract, rule, package and target) into one with a count,
/// keeping the first occurrence's evidence. Memory is bounded by the number of distinct findings.
public struct ViolationLog: Sendable {
    public private(set) var violations: [Violation] = []
    private var indexByKey: [String: Int] = [:]
    /// Distinct findings kept at most; later distinct ones are counted in `overflow`.
    public let capacity: Int
    public private(set) var overflow = 0

    public init(capacity: Int = 100_000) { self.capacity = capacity }

    /// Adds `violation`; returns true when it is a new finding (not a repeat).
    @discardableResult
    public mutating func add(_ violation: Violation) -> Bool {
        let key = violation.key
        if let i = indexByKey[key] {
            violations[i].count += violation.count
            if violation.enforced && !violations[i].enforced {
                violations[i].enforced = true
                violations[i].enforcement = violation.enforcement
            }
            return false
        }
        guard violations.count < capacity else {
            overflow += 1
            return false
        }
        indexByKey[key] = violations.count
        violations.append(violation)
        return true
    }

    public var total: Int { violations.reduce(0) { $0 + $1.count } + overflow }
}
