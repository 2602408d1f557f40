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
        var originalUriBaseIds: [String: ArtifactLocation]?
        var results: [Result]
    }

    /// Where relative locations are: the checkout the run worked in.
    static let sourceRootID = "%SRCROOT%"
    /// Where the project's documentation lives (rules' `helpUri`).
    static let documentation = "\(ProbityVersion.repository)/blob/main/docs/"

    struct Tool: Encodable { var driver: Driver }

    struct Driver: Encodable {
        var name = "Probity"
        var informationUri = ProbityVersion.repository
        var semanticVersion = ProbityVersion.string
        var rules: [ReportingDescriptor]
    }

    struct ReportingDescriptor: Encodable {
        var id: String
        var name: String
        var shortDescription: Text
        var fullDescription: Text
        var help: Help
        var helpUri: String
        var defaultConfiguration: Configuration
        var properties: Properties
    }

    struct Help: Encodable {
        var text: String
        var markdown: String
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

    struct ArtifactLocation: Encodable {
        var uri: String
        var uriBaseId: String?
    }

    struct Region: Encodable {
        var startLine: Int
        var startColumn: Int?
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

    /// A rule's `file:line:column` as a SARIF location: relative to the checkout when the policy
    /// file is in it, the project's own copy for the built-in policy, an absolute `file:` URI else.
    static func location(ofRule place: String, id: Int? = nil, locator: ManifestLocator?) -> Location? {
        let parts = place.split(separator: ":")
        guard parts.count >= 3, let line = Int(parts[parts.count - 2]), let column = Int(parts[parts.count - 1]) else { return nil }
        var file = parts.dropLast(2).joined(separator: ":")
        let artifact: ArtifactLocation
        if file.hasPrefix("(built-in) ") {
            file.removeFirst("(built-in) ".count)
            artifact = ArtifactLocation(uri: "\(ProbityVersion.repository)/blob/main/\(percentEncoded(file))")
        } else if let relative = locator?.relativePath(file) {
            artifact = ArtifactLocation(uri: percentEncoded(relative), uriBaseId: sourceRootID)
        } else {
            artifact = ArtifactLocation(uri: fileURI(file))
        }
        return Location(
            id: id, physicalLocation: PhysicalLocation(artifactLocation: artifact, region: Region(startLine: max(1, line), startColumn: max(1, column))),
            logicalLocations: nil, message: Text(text: "the rule"))
    }

    static func fileURI(_ path: String) -> String {
        if !path.hasPrefix("/") { return percentEncoded(path) }
        return URL(fileURLWithPath: path).absoluteString
    }

    /// A relative path as a URI reference (each segment percent-encoded, `/` kept).
    static func percentEncoded(_ path: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: ":;?#[]@!$&'()*+,=")
        return path.addingPercentEncoding(withAllowedCharacters: allowed) ?? path
    }

    /// The documentation page section that explains a rule's kind.
    static func helpUri(category: String) -> String {
        switch category {
        case "network", "dns": return documentation + "contracts.md#dns-and-the-resolvers"
        default: return documentation + "contracts.md#the-built-in-policy"
        }
    }

    /// The rule's help: what it guards against, where it is written, and how to allow a
    /// behaviour that is expected.
    static func help(_ v: Violation, description: String?) -> Help {
        let what = description ?? "Rule \(v.rule) (\(v.category)) of contract \(v.contract)."
        let text = "\(what) Written at \(v.ruleLocation). If the behaviour is expected, add an exception for the package (an `amend` with `except`, or `probity learn` from a run that is known to be good); see docs/contracts.md."
        let markdown = """
            \(SARIFText.plain(what))

            Rule `\(v.contract)/\(v.rule)` (\(v.category)), written at `\(v.ruleLocation)`.

            If the behaviour is expected, add an exception for the package (an `amend` with `except`, or \
            `probity learn` from a run known to be good): see [contracts](\(documentation)contracts.md).
            """
        return Help(text: SARIFText.plain(text), markdown: markdown)
    }

    /// The result's location in the repository: the manifest line that brought the package in,
    /// else the workspace script a process of the chain ran, else the file acted on when it is
    /// inside the checkout; nil when nothing in the checkout fits.
    static func repositoryLocation(_ v: Violation, locator: ManifestLocator) -> Location? {
        var place: ManifestLocator.Place?
        var message = "the file that brought the package in"
        if let package = v.package { place = locator.place(of: package) }
        if place == nil, let script = locator.script(in: v.processes) {
            place = script
            message = "the script that ran"
        }
        if place == nil, let path = v.evidence.path, let relative = locator.relativePath(path) {
            place = ManifestLocator.Place(path: relative, line: nil)
            message = "the file acted on"
        }
        guard let place else { return nil }
        return Location(
            id: nil,
            physicalLocation: PhysicalLocation(
                artifactLocation: ArtifactLocation(uri: percentEncoded(place.path), uriBaseId: sourceRootID),
                region: place.line.map { Region(startLine: $0, startColumn: nil) }),
            logicalLocations: nil, message: Text(text: message))
    }

    /// The SARIF log for `report`, as JSON.
    public static func data(_ report: RunReport) -> Data {
        var rules: [ReportingDescriptor] = []
        var ruleIndex: [String: Int] = [:]
        var results: [Result] = []
        let locator = report.sourceRoot.map(ManifestLocator.init(root:))
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
                    help: help(v, description: report.ruleDescriptions[id]), helpUri: helpUri(category: v.category),
                    defaultConfiguration: Configuration(level: level(v.severity)),
                    properties: Properties(tags: ["security", "supply-chain", v.category], securitySeverity: score(v.severity))))
            }
            // The location is in the repository (what code scanning can show against the code);
            // the file acted on, usually outside it (~/.ssh), is a related location and in the
            // message.
            var locations: [Location] = []
            if let locator, let place = repositoryLocation(v, locator: locator) { locations.append(place) }
            var related: [Location] = []
            if let rule = location(ofRule: v.ruleLocation, id: 1, locator: locator) { related.append(rule) }
            if let path = v.evidence.path, path.hasPrefix("/") {
                related.append(Location(
                    id: 2, physicalLocation: PhysicalLocation(artifactLocation: ArtifactLocation(uri: fileURI(path)), region: nil),
                    logicalLocations: nil, message: Text(text: "the file acted on (\(v.evidence.operation))")))
            }
            if let package = v.package {
                let logical = LogicalLocation(name: package.name, fullyQualifiedName: package.purl ?? package.displayName, kind: "module")
                if locations.isEmpty {
                    locations.append(Location(id: nil, physicalLocation: nil, logicalLocations: [logical], message: nil))
                } else {
                    locations[0].logicalLocations = [logical]
                }
            }
            if locations.isEmpty, let rule = location(ofRule: v.ruleLocation, locator: locator) { locations.append(rule) }
            let chain = ReportWriter.chain(v, limit: 4)
            results.append(Result(
                ruleId: id, ruleIndex: index, level: level(v.severity),
                message: Text(text: SARIFText.plain(
                    "\(MarkdownSummary.actor(v)) \(ReportWriter.shortened(MarkdownSummary.deed(v), limit: 300)) — \(v.message). Process chain: \(chain)")),
                locations: locations, relatedLocations: related.isEmpty ? nil : related,
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
            originalUriBaseIds: report.sourceRoot.map { root in
                [sourceRootID: ArtifactLocation(uri: URL(fileURLWithPath: root, isDirectory: true).absoluteString)]
            },
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
