import Foundation
import ProbityContracts
import ProbityEvents

/// One request on the control socket, decoded and validated (docs/control-socket.md).
///
/// Every field is checked when the line is decoded: its type, its range, and that the request
/// takes it at all. What fails is a ``ControlRequestError`` naming the field and the request;
/// nothing a client sends can trap the daemon.
public enum ControlRequest: Sendable, Equatable, Encodable {
    case status
    case violations(ViolationsQuery)
    case follow(FollowRequest)
    case events(EventsQuery)
    case whose(WhoseQuery)
    case packages
    case reload
    case metrics
    case loadSBOM(LoadSBOMRequest)

    /// Every request name, in the order the documentation gives them.
    public static let names = ["status", "violations", "follow", "events", "whose", "packages", "metrics", "reload", "load-sbom"]

    /// The request's name on the wire.
    public var name: String {
        switch self {
        case .status: "status"
        case .violations: "violations"
        case .follow: "follow"
        case .events: "events"
        case .whose: "whose"
        case .packages: "packages"
        case .reload: "reload"
        case .metrics: "metrics"
        case .loadSBOM: "load-sbom"
        }
    }

    /// Requests that change the daemon's state (run one at a time, apart from queries).
    public var changesState: Bool {
        switch self {
        case .reload, .loadSBOM: true
        default: false
        }
    }

    /// Encodes the request as the client sends it: `{"request": NAME, fields...}`.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: FieldKey.self)
        try container.encode(name, forKey: FieldKey("request"))
        switch self {
        case .violations(let q): try q.encode(to: encoder)
        case .follow(let f): try f.encode(to: encoder)
        case .events(let q): try q.encode(to: encoder)
        case .whose(let q): try q.encode(to: encoder)
        case .loadSBOM(let r): try r.encode(to: encoder)
        case .status, .packages, .reload, .metrics: break
        }
    }

    /// Decodes one line (without its newline). Blank lines are not requests: the caller skips them.
    public static func decode(_ line: some Collection<UInt8>, now: Date = Date()) throws(ControlRequestError) -> ControlRequest {
        let fields: [String: JSONValue]
        do {
            guard case .object(let object) = try JSONDecoder().decode(JSONValue.self, from: Data(line)) else {
                throw ControlRequestError.notAnObject
            }
            fields = object
        } catch {
            throw ControlRequestError.notAnObject
        }
        guard let nameValue = fields["request"] else {
            throw ControlRequestError("missing \"request\": the name of the request, like {\"request\":\"status\"}")
        }
        guard case .string(let name) = nameValue else {
            throw ControlRequestError("`request` must be a string naming the request (\(names.joined(separator: ", "))), not \(nameValue.kind)")
        }
        let reader = RequestFields(request: name, fields: fields)
        switch name {
        case "status": try reader.allow([]); return .status
        case "packages": try reader.allow([]); return .packages
        case "reload": try reader.allow([]); return .reload
        case "metrics": try reader.allow([]); return .metrics
        case "violations": return .violations(try ViolationsQuery(reader, now: now))
        case "follow": return .follow(try FollowRequest(reader))
        case "events": return .events(try EventsQuery(reader))
        case "whose": return .whose(try WhoseQuery(reader))
        case "load-sbom": return .loadSBOM(try LoadSBOMRequest(reader))
        default:
            throw ControlRequestError("unknown request `\(RequestFields.shown(name))` (\(names.joined(separator: ", ")))")
        }
    }
}

/// Why a line is not a valid request; the text is the `error` of the answer.
public struct ControlRequestError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }

    static let notAnObject = ControlRequestError("not a JSON object: send one object per line, like {\"request\":\"status\"}")
}

/// `violations`: stored violations, oldest first (the newest `limit` of those that match).
public struct ViolationsQuery: Sendable, Equatable, Encodable {
    /// The earliest time, in unix nanoseconds (from `since`).
    public var sinceUnixNanoseconds: Int64?
    public var package: String?
    public var rule: String?
    public var minimumSeverity: Severity?
    public var limit: Int

    public static let defaultLimit = 100
    public static let limits = 0...10_000
    public static let fields: Set<String> = ["since", "package", "rule", "severity", "limit"]

    public init(sinceUnixNanoseconds: Int64? = nil, package: String? = nil, rule: String? = nil, minimumSeverity: Severity? = nil,
                limit: Int = defaultLimit) {
        self.sinceUnixNanoseconds = sinceUnixNanoseconds
        self.package = package
        self.rule = rule
        self.minimumSeverity = minimumSeverity
        self.limit = limit
    }

    init(_ r: RequestFields, now: Date) throws(ControlRequestError) {
        try r.allow(Self.fields)
        sinceUnixNanoseconds = try r.value("since").map { v throws(ControlRequestError) in try SinceValue.unixNanoseconds(v, now: now, field: r.name("since")) }
        package = try r.string("package")
        rule = try r.string("rule")
        minimumSeverity = try r.severity("severity")
        limit = try r.integer("limit", in: Self.limits) ?? Self.defaultLimit
    }

    enum CodingKeys: String, CodingKey { case since, package, rule, severity, limit }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        if let since = sinceUnixNanoseconds { try c.encode(Double(since) / 1e9, forKey: .since) }
        try c.encodeIfPresent(package, forKey: .package)
        try c.encodeIfPresent(rule, forKey: .rule)
        try c.encodeIfPresent(minimumSeverity?.rawValue, forKey: .severity)
        try c.encode(limit, forKey: .limit)
    }
}

/// `follow`: stream violations and/or events from now on, filtered.
public struct FollowRequest: Sendable, Equatable, Encodable {
    public enum Stream: String, Sendable, CaseIterable, Comparable {
        case violations, events
        public static func < (a: Stream, b: Stream) -> Bool { a.rawValue < b.rawValue }
    }
    public var what: Set<Stream>
    public var package: String?
    public var rule: String?
    public var severity: Severity?
    /// An event kind (`exec`, `open`, ...): events only.
    public var kind: String?

    public static let fields: Set<String> = ["what", "package", "rule", "severity", "kind"]

    public init(what: Set<Stream> = [.violations], package: String? = nil, rule: String? = nil, severity: Severity? = nil, kind: String? = nil) {
        self.what = what
        self.package = package
        self.rule = rule
        self.severity = severity
        self.kind = kind
    }

    init(_ r: RequestFields) throws(ControlRequestError) {
        try r.allow(Self.fields)
        let streams = "\"violations\", \"events\" or [\"violations\", \"events\"]"
        switch r.fields["what"] {
        case nil:
            what = [.violations]
        case .string(let one)?:
            guard let stream = Stream(rawValue: one) else { throw r.invalid("what", "must be \(streams), not \"\(RequestFields.shown(one))\"") }
            what = [stream]
        case .array(let items)?:
            var set: Set<Stream> = []
            for item in items {
                guard case .string(let text) = item, let stream = Stream(rawValue: text) else {
                    throw r.invalid("what", "must be \(streams); \(item.description) is neither")
                }
                set.insert(stream)
            }
            guard !set.isEmpty else { throw r.invalid("what", "must name at least one of violations, events") }
            what = set
        case let other?:
            throw r.invalid("what", "must be \(streams), not \(other.kind)")
        }
        package = try r.string("package")
        rule = try r.string("rule")
        severity = try r.severity("severity")
        kind = try r.string("kind")
        if let kind, !EventKind.allCases.contains(where: { $0.description == kind }) {
            throw r.invalid("kind", "must be an event kind (\(EventKind.allCases.map(\.description).joined(separator: ", "))), not \"\(RequestFields.shown(kind))\"")
        }
    }

    /// The filter as the publishers read it (`package`, `rule`, `severity`, `kind`).
    public var filter: [String: String] {
        var f: [String: String] = [:]
        f["package"] = package
        f["rule"] = rule
        f["severity"] = severity?.rawValue
        f["kind"] = kind
        return f
    }

    enum CodingKeys: String, CodingKey { case what, package, rule, severity, kind }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(what.sorted().map(\.rawValue), forKey: .what)
        try c.encodeIfPresent(package, forKey: .package)
        try c.encodeIfPresent(rule, forKey: .rule)
        try c.encodeIfPresent(severity?.rawValue, forKey: .severity)
        try c.encodeIfPresent(kind, forKey: .kind)
    }
}

/// `events`: the most recent events held in memory.
public struct EventsQuery: Sendable, Equatable, Encodable {
    public var limit: Int
    public static let defaultLimit = 100
    public static let limits = 0...10_000

    public init(limit: Int = defaultLimit) { self.limit = limit }

    init(_ r: RequestFields) throws(ControlRequestError) {
        try r.allow(["limit"])
        limit = try r.integer("limit", in: Self.limits) ?? Self.defaultLimit
    }
}

/// `whose`: the owning package of each path.
public struct WhoseQuery: Sendable, Equatable, Encodable {
    public var paths: [String]
    public static let maximumPaths = 10_000

    public init(paths: [String]) { self.paths = paths }

    init(_ r: RequestFields) throws(ControlRequestError) {
        try r.allow(["paths"])
        guard let paths = try r.strings("paths") else { throw ControlRequestError("`whose` needs \"paths\": [\"/abs/path\", ...]") }
        guard paths.count <= Self.maximumPaths else { throw r.invalid("paths", "holds \(paths.count) paths; at most \(Self.maximumPaths)") }
        self.paths = paths
    }
}

/// `load-sbom`: add an SBOM's file paths to attribution (only from `sbom-directories`).
public struct LoadSBOMRequest: Sendable, Equatable, Encodable {
    public var path: String

    public init(path: String) { self.path = path }

    init(_ r: RequestFields) throws(ControlRequestError) {
        try r.allow(["path"])
        guard let path = try r.string("path"), path.hasPrefix("/") else {
            throw ControlRequestError("`load-sbom` needs \"path\": the absolute path of an SBOM file in one of the daemon's sbom-directories")
        }
        self.path = path
    }
}

/// `since`: a duration ago (`30s`, `15m`, `1h`, `7d`), an RFC 3339 time or unix seconds, as unix
/// nanoseconds; never before 1970 nor after 2100 (a number that large is milliseconds by mistake).
enum SinceValue {
    /// 2100-01-01T00:00:00Z: later times are refused (and unix nanoseconds stay far from Int64's end).
    static let latestSeconds: Double = 4_102_444_800
    static let help = "a duration (30s, 15m, 1h, 7d), an RFC 3339 time or unix seconds"

    static func unixNanoseconds(_ value: JSONValue, now: Date, field: String) throws(ControlRequestError) -> Int64 {
        let seconds: Double
        switch value {
        case .integer(let n): seconds = try checked(Double(n), shown: String(n), field: field)
        case .unsigned(let n): seconds = try checked(Double(n), shown: String(n), field: field)
        case .double(let d): seconds = try checked(d, shown: "\(d)", field: field)
        case .string(let text): seconds = try parse(text, now: now, field: field)
        default: throw ControlRequestError("\(field) must be \(help), not \(value.kind)")
        }
        return Int64((seconds * 1e9).rounded())
    }

    static func parse(_ text: String, now: Date, field: String) throws(ControlRequestError) -> Double {
        let shown = RequestFields.shown(text)
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let n = Double(trimmed) { return try checked(n, shown: "\"\(shown)\"", field: field) }
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        if let unit = trimmed.last, let factor = units[unit], let amount = Double(trimmed.dropLast()) {
            guard amount.isFinite, amount >= 0 else {
                throw ControlRequestError("\(field) \"\(shown)\": a duration must be a finite amount, not negative (like 30s, 15m, 1h, 7d)")
            }
            let ago = amount * factor
            let seconds = now.timeIntervalSince1970 - ago
            guard ago.isFinite, seconds >= 0 else { throw ControlRequestError("\(field) \"\(shown)\" reaches back before 1970") }
            return seconds
        }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var date = formatter.date(from: trimmed)
        if date == nil {
            formatter.formatOptions = [.withInternetDateTime]
            date = formatter.date(from: trimmed)
        }
        guard let date else { throw ControlRequestError("\(field) must be \(help), not \"\(shown)\"") }
        return try checked(date.timeIntervalSince1970, shown: "\"\(shown)\"", field: field)
    }

    /// Unix seconds between 1970 and 2100.
    static func checked(_ seconds: Double, shown: String, field: String) throws(ControlRequestError) -> Double {
        guard seconds.isFinite else { throw ControlRequestError("\(field) must be a finite number of unix seconds, not \(shown)") }
        guard seconds >= 0 else { throw ControlRequestError("\(field) must not be negative (\(shown)): unix seconds start at 1970") }
        guard seconds <= latestSeconds else {
            throw ControlRequestError("\(field) of \(shown) unix seconds is after 2100 (at most \(Int(latestSeconds)); milliseconds by mistake?)")
        }
        return seconds
    }
}

/// The fields of one request object, read with errors that name the field and the request.
struct RequestFields {
    let request: String
    let fields: [String: JSONValue]

    /// "`limit` of `violations`"
    func name(_ field: String) -> String { "`\(field)` of `\(request)`" }

    func invalid(_ field: String, _ problem: String) -> ControlRequestError { ControlRequestError("\(name(field)) \(problem)") }

    /// Refuses fields the request does not take, naming them.
    func allow(_ known: Set<String>) throws(ControlRequestError) {
        let unknown = fields.keys.filter { $0 != "request" && !known.contains($0) }.sorted()
        guard unknown.isEmpty else {
            let names = unknown.map { "`\(Self.shown($0))`" }.joined(separator: ", ")
            let takes = known.isEmpty ? "it takes none" : "it takes \(known.sorted().joined(separator: ", "))"
            throw ControlRequestError("unknown field\(unknown.count == 1 ? "" : "s") \(names) in `\(request)` (\(takes))")
        }
    }

    func value(_ field: String) -> JSONValue? {
        if case .null? = fields[field] { return nil }
        return fields[field]
    }

    func string(_ field: String) throws(ControlRequestError) -> String? {
        guard let v = value(field) else { return nil }
        guard case .string(let s) = v else { throw invalid(field, "must be a string, not \(v.kind)") }
        return s
    }

    func strings(_ field: String) throws(ControlRequestError) -> [String]? {
        guard let v = value(field) else { return nil }
        guard case .array(let items) = v else { throw invalid(field, "must be an array of strings, not \(v.kind)") }
        var out: [String] = []
        out.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            guard case .string(let s) = item else { throw invalid(field, "must be an array of strings; item \(i) is \(item.kind)") }
            out.append(s)
        }
        return out
    }

    func integer(_ field: String, in range: ClosedRange<Int>) throws(ControlRequestError) -> Int? {
        guard let v = value(field) else { return nil }
        let bounds = "an integer from \(range.lowerBound) to \(range.upperBound)"
        switch v {
        case .integer(let n) where n >= Int64(range.lowerBound) && n <= Int64(range.upperBound): return Int(n)
        case .integer, .unsigned, .double: throw invalid(field, "must be \(bounds), not \(v.description)")
        default: throw invalid(field, "must be \(bounds), not \(v.kind)")
        }
    }

    func severity(_ field: String) throws(ControlRequestError) -> Severity? {
        guard let text = try string(field) else { return nil }
        guard let s = Severity(rawValue: text) else {
            throw invalid(field, "must be low, medium, high or critical, not \"\(Self.shown(text))\"")
        }
        return s
    }

    /// A client's text as shown in an error: at most 80 characters, control characters escaped.
    static func shown(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars.prefix(80) {
            if scalar.value < 0x20 || scalar.value == 0x7f || (0x80..<0xa0).contains(scalar.value) {
                out += String(format: "\\u%04x", scalar.value)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return text.unicodeScalars.count > 80 ? out + "..." : out
    }
}

/// A coding key for any name.
struct FieldKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ name: String) { stringValue = name }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
