import Foundation
import ProbityContracts
import ProbityEvents

/// SARIF 2.1.0 (the OASIS static analysis results format that code-scanning services read):
/// one rule per contract rule that was broken, one result per folded violation. Message texts,
/// which viewers show to people, go through ``SARIFText/plain(_:)``; the evidence in `properties`
/// is data and keeps every character (the JSON encoder escapes them).
public enum SARIFReport {
    public static let schema = "https://json.schemastore.org/sarif-2.1.0.json"

    struct Log: Encodable {
        var version = "2.1.0"
        var schema = SARIFReport.schema
        var runs: [Run]
        enum CodingKeys: String, CodingKey {
            case version, runs
            case schema = "$schema"
        }
    }

    struct Run: Encodable {
        var tool: Tool
        var invocations: [Invocation]
        var results: [Result]
    }

    struct Tool: Encodable { var driver: Driver }

    struct Driver: Encodable {
        var name = "Probity"
        var informationUri = "https://github.com/probity/probity"
        var semanticVersion = ProbityVersion.string
        var rules: [ReportingDescriptor]
    }

    struct ReportingDescriptor: Encodable {
        var id: String
        var name: String
        var shortDescription: Text
        var fullDescription: Text
        var defaultConfiguration: Configuration
        var properties: Properties
    }

    struct Configuration: Encodable { var level: String }

    struct Properties: Encodable {
        var tags: [String]
        var securitySeverity: String
        enum CodingKeys: String, CodingKey {
            case tags
            case securitySeverity = "security-severity"
        }
    }

    struct Text: Encodable { var text: String }

    struct Invocation: Encodable {
        var executionSuccessful: Bool
        var commandLine: String
        var exitCode: Int32
        var toolExecutionNotifications: [Notification]
    }

    struct Notification: Encodable {
        var level: String
        var message: Text
    }

    struct Result: Encodable {
        var ruleId: String
        var ruleIndex: Int
        var level: String
        var message: Text
        var locations: [Location]
        var relatedLocations: [Location]?
        var partialFingerprints: [String: String]
        var properties: ResultProperties
    }

    struct ResultProperties: Encodable {
        var package: String?
        var purl: String?
        var attribution: String
        var processChain: [String]
        var count: Int
        var enforced: Bool
        var evidence: Evidence
    }

    struct Location: Encodable {
        var id: Int?
        var physicalLocation: PhysicalLocation?
        var logicalLocations: [LogicalLocation]?
        var message: Text?
    }

    struct PhysicalLocation: Encodable {
        var artifactLocation: ArtifactLocation
        var region: Region?
    }

    struct ArtifactLocation: Encodable { var uri: String }

    struct Region: Encodable {
        var startLine: Int
        var startColumn: Int
    }

    struct LogicalLocation: Encodable {
        var name: String
        var fullyQualifiedName: String
        var kind: String
    }

    static func level(_ severity: Severity) -> String {
        switch severity {
        case .critical, .high: "error"
        case .medium: "warning"
        case .low: "note"
        }
    }

    /// GitHub's numeric `security-severity` scale (critical ≥ 9, high ≥ 7, medium ≥ 4).
    static func score(_ severity: Severity) -> String {
        switch severity {
        case .critical: "9.5"
        case .high: "8.0"
        case .medium: "5.5"
        case .low: "3.0"
        }
    }

    /// `file:line:column` as a SARIF location.
    static func location(ofRule place: String, id: Int? = nil) -> Location? {
        let parts = place.split(separator: ":")
        guard parts.count >= 3, let line = Int(parts[parts.count - 2]), let column = Int(parts[parts.count - 1]) else { return nil }
        let file = parts.dropLast(2).joined(separator: ":")
        return Location(
            id: id, physicalLocation: PhysicalLocation(artifactLocation: ArtifactLocation(uri: fileURI(file)),
                                                       region: Region(startLine: max(1, line), startColumn: max(1, column))),
            logicalLocations: nil, message: Text(text: "the rule"))
    }

    static func fileURI(_ path: String) -> String {
        if !path.hasPrefix("/") { return path }
        return URL(fileURLWithPath: path).absoluteString
    }

    /// The SARIF log for `report`, as JSON.
    public static func data(_ report: RunReport) -> Data {
        var rules: [ReportingDescriptor] = []
        var ruleIndex: [String: Int] = [:]
        var results: [Result] = []
        for v in report.violations {
            let id = "\(v.contract)/\(v.rule)"
            let index: Int
            if let known = ruleIndex[id] {
                index = known
            } else {
                index = rules.count
                ruleIndex[id] = index
                rules.append(ReportingDescriptor(
                    id: id, name: v.rule, shortDescription: Text(text: SARIFText.plain("\(v.category) rule \(v.rule) of contract \(v.contract)")),
                    fullDescription: Text(text: SARIFText.plain("Rule \(v.rule) (\(v.category)) of contract \(v.contract), written at \(v.ruleLocation).")),
                    defaultConfiguration: Configuration(level: level(v.severity)),
                    properties: Properties(tags: ["security", "supply-chain", v.category], securitySeverity: score(v.severity))))
            }
            var locations: [Location] = []
            if let path = v.evidence.path, path.hasPrefix("/") {
                locations.append(Location(
                    id: nil, physicalLocation: PhysicalLocation(artifactLocation: ArtifactLocation(uri: fileURI(path)), region: nil),
                    logicalLocations: nil, message: Text(text: v.evidence.operation)))
            }
            if let package = v.package {
                let logical = LogicalLocation(name: package.name, fullyQualifiedName: package.purl ?? package.displayName, kind: "module")
                if locations.isEmpty {
                    locations.append(Location(id: nil, physicalLocation: nil, logicalLocations: [logical], message: nil))
                } else {
                    locations[0].logicalLocations = [logical]
                }
            }
            if locations.isEmpty, let rule = location(ofRule: v.ruleLocation) { locations.append(rule) }
            let related = location(ofRule: v.ruleLocation, id: 1).map { [$0] }
            results.append(Result(
                ruleId: id, ruleIndex: index, level: level(v.severity),
                message: Text(text: SARIFText.plain("\(v.package.map { "\($0.displayName): " } ?? "unattributed code: ")\(v.message)")),
                locations: locations, relatedLocations: related,
                partialFingerprints: ["probityViolation/v1": fingerprint(v.key)],
                properties: ResultProperties(
                    package: v.package?.displayName, purl: v.package?.purl, attribution: v.attribution.reason,
                    processChain: v.processes.map { "\($0.pid) \($0.executable)" }, count: v.count, enforced: v.enforced,
                    evidence: v.evidence)))
        }
        var notifications: [Notification] = []
        if report.lostEvents > 0 {
            notifications.append(Notification(level: "warning", message: Text(text: "\(report.lostEvents) events were lost")))
        }
        if report.unwatchedProcesses > 0 {
            notifications.append(Notification(level: "error", message: Text(text: "\(report.unwatchedProcesses) processes were not watched (a kernel map was full)")))
        }
        if report.ranAsRoot {
            notifications.append(Notification(level: "warning", message: Text(text: RunReport.rootWarning)))
        }
        let log = Log(runs: [Run(
            tool: Tool(driver: Driver(rules: rules)),
            invocations: [Invocation(
                executionSuccessful: true, commandLine: report.commandLine, exitCode: report.commandStatus,
                toolExecutionNotifications: notifications)],
            results: results)])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(log)) ?? Data()
    }

    /// A stable 64-bit FNV-1a of the violation's key, in hex.
    static func fingerprint(_ key: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
