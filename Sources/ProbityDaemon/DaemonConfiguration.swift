import Foundation
import ProbityAttribution
import ProbityEvents
import ProbitySinks
import Yams

/// `/etc/probity/config.yaml` (docs/daemon.md). Every setting has a default, so the daemon starts
/// with no file at all; flags override the file.
public struct DaemonConfiguration: Sendable, Decodable, Equatable {
    /// The control socket.
    public var socket = "/run/probity/probity.sock"
    /// Members of this group may use the control socket (root always may).
    public var socketGroup = "probity"
    /// The violation store and other state.
    public var stateDirectory = "/var/lib/probity"
    /// Policy files; `builtin` is the built-in one.
    public var policies = ["builtin"]
    /// SBOMs whose file paths also attribute events.
    public var sboms: [String] = []
    public var sbomRoot = "/"
    /// `load-sbom` reads SBOM files only from these directories (not through symbolic links below
    /// them); empty: `load-sbom` is off.
    public var sbomDirectories = ["/etc/probity/sbom"]
    /// The largest SBOM file `load-sbom` reads, in bytes (counted while reading).
    public var sbomMaxBytes = 256 << 20
    /// A control client that neither asks, follows, nor reads for this many seconds is closed.
    public var controlIdleSeconds: Double = 60
    /// Control clients at once; the next one gets an error line and is closed.
    public var controlConnections = 256
    /// Violations older than this many days are deleted.
    public var retentionDays = 30
    /// At most this many violations are kept per user (the uid of the violating process): one
    /// user's flood pushes out only that user's oldest.
    public var retentionRows = 1_000_000
    /// At most this many in all; beyond it, the oldest of the user holding the most go.
    public var retentionTotalRows = 10_000_000
    /// Where package discovery looks besides dpkg's database and the system site-packages: each
    /// is searched for `node_modules` trees and virtual environments (3 levels), and is read as a
    /// tree itself when named `node_modules`, as a site when named `site-packages` or
    /// `dist-packages`. Never the daemon's working directory, never a home unless listed here.
    public var packageRoots = DiscoveryOptions.systemPackageRoots
    /// Recent events kept in memory for the `events` request.
    public var recentEvents = 10_000
    public var ringBufferMiB = 16
    /// `HOST:PORT` for Prometheus over HTTP (`GET /metrics`); empty: off.
    public var metricsAddress = ""
    /// Violations (and, with `export-events`, events) as JSON lines for log shippers, in the
    /// state directory unless absolute; empty: off.
    public var exportFile = "violations.jsonl"
    public var exportEvents = false
    public var exportMaxBytes = 50 << 20
    public var exportKeep = 5
    /// journald's native socket; violations go there with structured fields when it exists.
    public var journalSocket = "/run/systemd/journal/socket"
    /// Watch only these cgroups (paths in the cgroup v2 hierarchy, such as `/system.slice/ci.service`)
    /// and these systemd units, with everything below them; both empty: the whole host.
    public var cgroups: [String] = []
    public var units: [String] = []

    enum CodingKeys: String, CodingKey, CaseIterable {
        case socket
        case socketGroup = "socket-group"
        case stateDirectory = "state-directory"
        case policies, sboms
        case sbomRoot = "sbom-root"
        case sbomDirectories = "sbom-directories"
        case sbomMaxBytes = "sbom-max-bytes"
        case controlIdleSeconds = "control-idle-seconds"
        case controlConnections = "control-connections"
        case retentionDays = "retention-days"
        case retentionRows = "retention-rows"
        case retentionTotalRows = "retention-total-rows"
        case packageRoots = "package-roots"
        case recentEvents = "recent-events"
        case ringBufferMiB = "ring-buffer-mb"
        case metricsAddress = "metrics-address"
        case exportFile = "export-file"
        case exportEvents = "export-events"
        case exportMaxBytes = "export-max-bytes"
        case exportKeep = "export-keep"
        case journalSocket = "journal-socket"
        case cgroups, units
    }

    public init() {}

    /// The range each number setting accepts: wide enough for any real use, narrow enough that
    /// nothing computed from it overflows (`retention-days` in nanoseconds) or runs away
    /// (`export-keep` files renamed at each rotation).
    public static let ranges: [(key: String, range: ClosedRange<Int>)] = [
        ("retention-days", 1...36_500),
        ("retention-rows", 1...1_000_000_000),
        ("retention-total-rows", 1...1_000_000_000),
        ("recent-events", 0...1_000_000),
        ("ring-buffer-mb", 1...1024),
        ("export-max-bytes", 4096...(1 << 40)),
        ("export-keep", 1...1000),
    ]

    /// The value of each number setting, by its key in the file.
    var numbers: [String: Int] {
        [
            "retention-days": retentionDays, "retention-rows": retentionRows, "retention-total-rows": retentionTotalRows,
            "recent-events": recentEvents,
            "ring-buffer-mb": ringBufferMiB, "export-max-bytes": exportMaxBytes, "export-keep": exportKeep,
        ]
    }

    /// Checks every number setting against ``ranges``; the error names the first one outside.
    public func checkRanges() throws(NumberOutOfRange) {
        for (key, range) in Self.ranges {
            try NumberRange.check(numbers[key] ?? range.lowerBound, in: range, name: key)
        }
    }

    /// How long violations are kept, in nanoseconds (`retention-days`; saturated rather than
    /// overflowing for a configuration that was not checked).
    public var retentionNanoseconds: Int64 {
        let (nanoseconds, overflow) = Int64(clamping: retentionDays).multipliedReportingOverflow(by: 86_400 * 1_000_000_000)
        return overflow ? .max : max(nanoseconds, 0)
    }

    /// What the store keeps (`retention-rows` per uid, `retention-total-rows` in all).
    public var storeRetention: ViolationStore.Retention {
        ViolationStore.Retention(rowsPerUID: retentionRows, totalRows: retentionTotalRows)
    }

    /// Where the daemon discovers packages: the system's locations and `package-roots`.
    public var discovery: DiscoveryOptions { DiscoveryOptions.system(packageRoots: packageRoots) }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = DaemonConfiguration()
        socket = try c.decodeIfPresent(String.self, forKey: .socket) ?? d.socket
        socketGroup = try c.decodeIfPresent(String.self, forKey: .socketGroup) ?? d.socketGroup
        stateDirectory = try c.decodeIfPresent(String.self, forKey: .stateDirectory) ?? d.stateDirectory
        policies = try c.decodeIfPresent([String].self, forKey: .policies) ?? d.policies
        sboms = try c.decodeIfPresent([String].self, forKey: .sboms) ?? d.sboms
        sbomRoot = try c.decodeIfPresent(String.self, forKey: .sbomRoot) ?? d.sbomRoot
        sbomDirectories = try c.decodeIfPresent([String].self, forKey: .sbomDirectories) ?? d.sbomDirectories
        sbomMaxBytes = try c.decodeIfPresent(Int.self, forKey: .sbomMaxBytes) ?? d.sbomMaxBytes
        controlIdleSeconds = try c.decodeIfPresent(Double.self, forKey: .controlIdleSeconds) ?? d.controlIdleSeconds
        controlConnections = try c.decodeIfPresent(Int.self, forKey: .controlConnections) ?? d.controlConnections
        retentionDays = try c.decodeIfPresent(Int.self, forKey: .retentionDays) ?? d.retentionDays
        retentionRows = try c.decodeIfPresent(Int.self, forKey: .retentionRows) ?? d.retentionRows
        retentionTotalRows = try c.decodeIfPresent(Int.self, forKey: .retentionTotalRows) ?? d.retentionTotalRows
        packageRoots = try c.decodeIfPresent([String].self, forKey: .packageRoots) ?? d.packageRoots
        recentEvents = try c.decodeIfPresent(Int.self, forKey: .recentEvents) ?? d.recentEvents
        ringBufferMiB = try c.decodeIfPresent(Int.self, forKey: .ringBufferMiB) ?? d.ringBufferMiB
        metricsAddress = try c.decodeIfPresent(String.self, forKey: .metricsAddress) ?? d.metricsAddress
        exportFile = try c.decodeIfPresent(String.self, forKey: .exportFile) ?? d.exportFile
        exportEvents = try c.decodeIfPresent(Bool.self, forKey: .exportEvents) ?? d.exportEvents
        exportMaxBytes = try c.decodeIfPresent(Int.self, forKey: .exportMaxBytes) ?? d.exportMaxBytes
        exportKeep = try c.decodeIfPresent(Int.self, forKey: .exportKeep) ?? d.exportKeep
        journalSocket = try c.decodeIfPresent(String.self, forKey: .journalSocket) ?? d.journalSocket
        cgroups = try c.decodeIfPresent([String].self, forKey: .cgroups) ?? d.cgroups
        units = try c.decodeIfPresent([String].self, forKey: .units) ?? d.units
    }

    public static let defaultPath = "/etc/probity/config.yaml"

    /// Reads `path`; a missing file at the default path means the defaults.
    public static func load(path: String?) throws(ConfigurationError) -> DaemonConfiguration {
        let file = path ?? defaultPath
        guard let data = FileManager.default.contents(atPath: file) else {
            if path == nil && !FileManager.default.fileExists(atPath: file) { return DaemonConfiguration() }
            throw ConfigurationError(file: file, message: "cannot be read")
        }
        let text = String(decoding: data, as: UTF8.self)
        // Unknown keys are errors, with their place.
        // `:line:column` of each setting, for the errors.
        var places: [String: String] = [:]
        do {
            if case .mapping(let mapping)? = try Yams.compose(yaml: text) {
                let known = Set(CodingKeys.allCases.map(\.rawValue))
                for (key, _) in mapping {
                    let place = key.mark.map { ":\($0.line):\($0.column)" } ?? ""
                    if let name = key.string { places[name] = place }
                    if let name = key.string, !known.contains(name) {
                        throw ConfigurationError(file: file + place, message: "unknown setting `\(name)` (expected one of \(known.sorted().joined(separator: ", ")))")
                    }
                }
            }
            let configuration = try YAMLDecoder().decode(DaemonConfiguration.self, from: text)
            do {
                try configuration.checkRanges()
            } catch {
                throw ConfigurationError(
                    file: file + (places[error.name] ?? ""), message: "`\(error.name)` must be \(error.range) (got \(error.value))")
            }
            guard configuration.controlIdleSeconds.isFinite, (0.1...86_400).contains(configuration.controlIdleSeconds) else {
                throw ConfigurationError(file: file, message: "control-idle-seconds must be from 0.1 to 86400")
            }
            guard (1...65_536).contains(configuration.controlConnections) else {
                throw ConfigurationError(file: file, message: "control-connections must be from 1 to 65536")
            }
            guard (1...(4 << 30)).contains(configuration.sbomMaxBytes) else {
                throw ConfigurationError(file: file, message: "sbom-max-bytes must be from 1 to 4 GiB")
            }
            if let relative = configuration.sbomDirectories.first(where: { !$0.hasPrefix("/") }) {
                throw ConfigurationError(file: file, message: "sbom-directories must be absolute paths, not `\(relative)`")
            }
            if let relative = configuration.packageRoots.first(where: { !$0.hasPrefix("/") }) {
                throw ConfigurationError(
                    file: file + (places["package-roots"] ?? ""), message: "package-roots must be absolute paths, not `\(relative)`")
            }
            return configuration
        } catch let error as ConfigurationError {
            throw error
        } catch let error as DecodingError {
            throw ConfigurationError(file: file, message: Self.describe(error))
        } catch {
            throw ConfigurationError(file: file, message: "\(error)")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        switch error {
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            let key = context.codingPath.map(\.stringValue).joined(separator: ".")
            if let range = ranges.first(where: { $0.key == key })?.range {
                return "`\(key)` must be a whole number in \(range.lowerBound)...\(range.upperBound)"
            }
            return "`\(key)` must be \(type)"
        case .dataCorrupted(let context):
            return "\(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)"
        case .keyNotFound(let key, _):
            return "missing `\(key.stringValue)`"
        @unknown default:
            return "\(error)"
        }
    }
}

/// A configuration file that cannot be used, with its place.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var message: String
    public var description: String { "\(file): \(message)" }
}
