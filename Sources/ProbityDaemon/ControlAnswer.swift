import Foundation

/// One answer on the control socket: a JSON object with `ok` (docs/control-socket.md).
public protocol ControlAnswer: Encodable, Sendable {
    /// The answer as one line, newline included.
    func line() -> [UInt8]
}

extension ControlAnswer {
    /// The answer as one line (sorted keys, slashes unescaped, newline included).
    public func line() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = (try? encoder.encode(self)) ?? Data("{\"error\":\"the answer could not be encoded\",\"ok\":false}".utf8)
        data.append(UInt8(ascii: "\n"))
        return Array(data)
    }
}

/// `{"ok":false,"error":...}`, with the contracts' generation after a refused reload.
public struct ControlFailure: ControlAnswer, Equatable {
    public let ok = false
    public var error: String
    public var generation: UInt64?

    public init(_ error: String, generation: UInt64? = nil) {
        self.error = error
        self.generation = generation
    }

    enum CodingKeys: String, CodingKey { case ok, error, generation }
}

/// The answer to `status`.
public struct StatusAnswer: ControlAnswer {
    public struct Store: Encodable, Sendable { var path: String; var rows: Int; var failures: UInt64 }
    public struct Contracts: Encodable, Sendable { var files: [String]; var generation: UInt64; var contracts: Int; var rules: Int }
    public struct Hook: Encodable, Sendable { var program: String; var attach: String; var state: String }
    public struct Revalidation: Encodable, Sendable { var digests: Int; var hashed: UInt64; var unchanged: UInt64; var dropped: UInt64 }
    /// `"host"`, or the cgroups and units watched.
    public enum Watching: Encodable, Sendable {
        case host
        case cgroups(paths: [String], units: [String], ids: Int)
        public func encode(to encoder: Encoder) throws {
            switch self {
            case .host:
                var c = encoder.singleValueContainer()
                try c.encode("host")
            case .cgroups(let paths, let units, let ids):
                var c = encoder.container(keyedBy: FieldKey.self)
                try c.encode(paths, forKey: FieldKey("cgroups"))
                try c.encode(units, forKey: FieldKey("units"))
                try c.encode(ids, forKey: FieldKey("cgroup_ids"))
            }
        }
    }

    public let ok = true
    var pid: Int32
    var uptimeSeconds: Int
    var events: [String: UInt64]
    var violations: UInt64
    var store: Store
    var contracts: Contracts
    var packages: Int
    var sboms: [String]
    var eventsPerSecond: [String: Double]
    var watching: Watching
    var revalidation: Revalidation?
    var hooks: [Hook]?
    var lost: [String: UInt64]?

    enum CodingKeys: String, CodingKey {
        case ok, pid, events, violations, store, contracts, packages, sboms, watching, revalidation, hooks, lost
        case uptimeSeconds = "uptime_seconds"
        case eventsPerSecond = "events_per_second"
    }
}

/// The answer to `violations`: each stored violation in its one JSON form (``ViolationJSON``),
/// with its store `id` and `unix_ns`. The violations are encoded once, as they are stored, and
/// put into the line as they are.
public struct ViolationsAnswer: ControlAnswer {
    public let ok = true
    /// Each violation's JSON object.
    var violations: [[UInt8]]

    /// `{"id":ID,"unix_ns":NS,` followed by the rest of `object` (a JSON object).
    static func stored(_ object: [UInt8], id: Int64, unixNanoseconds: Int64) -> [UInt8] {
        var out = Array("{\"id\":\(id),\"unix_ns\":\(unixNanoseconds)".utf8)
        let rest = object.drop { $0 != UInt8(ascii: "{") }.dropFirst()
        if let first = rest.first(where: { $0 != 32 && $0 != 10 && $0 != 13 && $0 != 9 }), first != UInt8(ascii: "}") {
            out.append(UInt8(ascii: ","))
        }
        out += rest.isEmpty ? Array("}".utf8) : Array(rest)
        return out
    }

    public func line() -> [UInt8] { EncodedObjects.line(key: "violations", violations) }

    public func encode(to encoder: Encoder) throws { try EncodedObjects.encode(key: "violations", violations, to: encoder) }
}

/// The first line of a `follow`.
public struct FollowingAnswer: ControlAnswer {
    public let ok = true
    var following: [String]
    enum CodingKeys: String, CodingKey { case ok, following }
}

/// The answer to `events`: each event in the schema of `docs/events.md` (as `probity trace
/// --json` and followers get them), encoded once and put into the line as it is.
public struct EventsAnswer: ControlAnswer {
    public let ok = true
    var events: [[UInt8]]

    public func line() -> [UInt8] { EncodedObjects.line(key: "events", events) }

    public func encode(to encoder: Encoder) throws { try EncodedObjects.encode(key: "events", events, to: encoder) }
}

/// `{"ok":true,"KEY":[...]}` from JSON objects already encoded.
enum EncodedObjects {
    static func line(key: String, _ objects: [[UInt8]]) -> [UInt8] {
        var out = Array("{\"ok\":true,\"\(key)\":[".utf8)
        for (i, object) in objects.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out += object
        }
        out += Array("]}\n".utf8)
        return out
    }

    static func encode(key: String, _ objects: [[UInt8]], to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: FieldKey.self)
        try c.encode(true, forKey: FieldKey("ok"))
        try c.encode(objects.map { (try? JSONDecoder().decode(JSONValue.self, from: Data($0))) ?? .null }, forKey: FieldKey(key))
    }
}

/// The answer to `whose`.
public struct WhoseAnswer: ControlAnswer {
    public struct Owner: Encodable, Sendable {
        var path: String
        var package: String?
        var version: String?
        var source: String?
        var purl: String?
    }
    public let ok = true
    var owners: [Owner]
    enum CodingKeys: String, CodingKey { case ok, owners }
}

/// The answer to `packages`.
public struct PackagesAnswer: ControlAnswer {
    public let ok = true
    var packages: [String: Int]
    var files: Int
    enum CodingKeys: String, CodingKey { case ok, packages, files }
}

/// The answer to a successful `reload`: the new generation, and what was missing (an SBOM file
/// that is gone is skipped with a warning, not a failed reload).
public struct ReloadAnswer: ControlAnswer {
    public let ok = true
    var generation: UInt64
    var warnings: [String]?
    enum CodingKeys: String, CodingKey { case ok, generation, warnings }
}

/// The answer to `metrics`.
public struct MetricsAnswer: ControlAnswer {
    public let ok = true
    var metrics: String
    enum CodingKeys: String, CodingKey { case ok, metrics }
}

/// The answer to a successful `load-sbom`.
public struct SBOMLoadedAnswer: ControlAnswer {
    public let ok = true
    var format: String
    var components: Int
    var paths: Int
    var problems: [String]
    enum CodingKeys: String, CodingKey { case ok, format, components, paths, problems }
}
