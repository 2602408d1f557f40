import Foundation
import ProbityAttribution
import ProbityEvents
import Yams

/// A contract that cannot be used, with the place of the problem.
public struct ContractError: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var column: Int?
    public var message: String

    public init(file: String, line: Int? = nil, column: Int? = nil, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    init(_ location: SourceLocation, _ message: String) {
        self.init(file: location.file, line: location.line, column: location.column, message: message)
    }

    /// `file:line:column: message`, the form compilers use.
    public var description: String {
        var place = file
        if let line { place += ":\(line)" + (column.map { ":\($0)" } ?? "") }
        return "\(place): \(message)"
    }
}

/// Reads policy files (YAML, the contract language of docs/contracts.md) into
/// ``PolicyDocument``s. Unknown keys are errors, so a misspelt rule never passes silently.
public enum PolicyLoader {
    /// The variables a path pattern may use.
    public static let variables: Set<String> = ["package", "home", "tmp", "workspace"]
    /// The variable a `cidr` list may use: the DNS servers of /etc/resolv.conf.
    public static let resolversVariable = "{resolvers}"

    /// Reads and checks the policy file at `path`.
    public static func load(contentsOf path: String) throws(ContractError) -> PolicyDocument {
        let bytes: [UInt8]
        do {
            bytes = try FileContents.read(path, limit: 16 << 20)
        } catch {
            throw ContractError(file: path, message: error.message)
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ContractError(file: path, message: "not UTF-8 text")
        }
        return try parse(text, file: path)
    }

    /// Parses policy `text`; `file` names it in errors. Throws the first problem (see
    /// ``check(_:file:)`` for all of them).
    public static func parse(_ text: String, file: String) throws(ContractError) -> PolicyDocument {
        let (document, problems) = check(text, file: file)
        if let first = problems.first { throw first }
        guard let document else { throw ContractError(file: file, message: "unreadable policy") }
        return document
    }

    /// Reads and checks the policy file at `path`, collecting every problem found (in file order).
    public static func check(contentsOf path: String) -> (document: PolicyDocument?, problems: [ContractError]) {
        let bytes: [UInt8]
        do {
            bytes = try FileContents.read(path, limit: 16 << 20)
        } catch {
            return (nil, [ContractError(file: path, message: error.message)])
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            return (nil, [ContractError(file: path, message: "not UTF-8 text")])
        }
        return check(text, file: path)
    }

    /// Parses policy `text` and returns every problem found: each contract, rule and amendment
    /// is checked even when an earlier one was wrong. The document holds what could be read;
    /// it is usable only when there are no problems.
    public static func check(_ text: String, file: String) -> (document: PolicyDocument?, problems: [ContractError]) {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            return (nil, [yamlError(error, file: file)])
        } catch {
            return (nil, [ContractError(file: file, message: "not YAML: \(error)")])
        }
        guard let root else { return (nil, [ContractError(file: file, line: 1, column: 1, message: "empty policy file")]) }
        let reader = Reader(file: file)
        do throws(ContractError) {
            let top = try reader.mapping(root, "a policy file", keys: ["version", "base", "contracts"])
            if let version = top["version"] {
                guard try reader.int(version, "version") == 1 else {
                    throw reader.error(version, "unsupported version: this Probity reads contract language version 1")
                }
            }
            guard let list = top["contracts"] else {
                throw reader.error(root, "a policy file needs a `contracts:` list")
            }
            var base: [String] = []
            if let node = top["base"] {
                do throws(ContractError) {
                    for item in try reader.sequence(node, "base") {
                        let name = try reader.string(item, "base")
                        guard !name.isEmpty, !name.utf8.contains(0) else { throw reader.error(item, "a `base` entry is `builtin` or a policy file's path") }
                        base.append(name == "builtin" || name.hasPrefix("/") ? name : Self.directory(of: file) + name)
                    }
                } catch {
                    reader.problems.add(error)
                }
            }
            var contracts: [Contract] = []
            var unreadable: Set<String> = []
            var names: [String: SourceLocation] = [:]
            for node in try reader.sequence(list, "contracts") {
                do throws(ContractError) {
                    let contract = try reader.contract(node)
                    if let first = names[contract.name] {
                        reader.problems.add(reader.error(node, "contract `\(contract.name)` is defined twice (first at \(first))"))
                    }
                    names[contract.name] = names[contract.name] ?? contract.location
                    contracts.append(contract)
                } catch {
                    reader.problems.add(error)
                    if let name = node["name"]?.string { unreadable.insert(name) }
                }
            }
            return (PolicyDocument(file: file, contracts: contracts, unreadableContracts: unreadable, base: base), reader.problems.sorted)
        } catch {
            reader.problems.add(error)
            return (nil, reader.problems.sorted)
        }
    }

    static func yamlError(_ error: YamlError, file: String) -> ContractError {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let detail = context.map { "\(problem) (\($0.text))" } ?? problem
            return ContractError(file: file, line: mark.line, column: mark.column, message: "invalid YAML: \(detail)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            return ContractError(
                file: file, line: context.mark.line, column: context.mark.column,
                message: "duplicate key \(duplicates.joined(separator: ", "))")
        default:
            return ContractError(file: file, message: "invalid YAML: \(error)")
        }
    }

}

/// Walks the composed YAML tree, checking shapes and keys, keeping places for errors.
struct Reader {
    let file: String
    /// Problems found in parts that were skipped so that the rest could still be checked.
    let problems = Problems()

    final class Problems {
        private var list: [ContractError] = []
        func add(_ problem: ContractError) { list.append(problem) }
        /// In file order (a problem found later in an enclosing part may lie earlier).
        var sorted: [ContractError] {
            list.enumerated().sorted { a, b in
                let x = (a.element.line ?? 0, a.element.column ?? 0, a.offset)
                let y = (b.element.line ?? 0, b.element.column ?? 0, b.offset)
                return x < y
            }.map(\.element)
        }
    }

    func location(_ node: Node) -> SourceLocation {
        SourceLocation(file: file, line: node.mark?.line ?? 0, column: node.mark?.column ?? 0)
    }

    func error(_ node: Node, _ message: String) -> ContractError {
        ContractError(location(node), message)
    }

    /// A mapping with only the given keys (in order of appearance).
    func mapping(_ node: Node, _ what: String, keys allowed: Set<String>) throws(ContractError) -> OrderedMapping {
        guard case .mapping(let mapping) = node else { throw error(node, "\(what) must be a mapping") }
        var result = OrderedMapping()
        for (keyNode, value) in mapping {
            guard case .scalar(let key) = keyNode else { throw error(keyNode, "keys must be plain words") }
            guard allowed.contains(key.string) else {
                let expected = allowed.sorted().map { "`\($0)`" }.joined(separator: ", ")
                throw error(keyNode, "unknown key `\(key.string)` in \(what) (expected one of \(expected))")
            }
            result.entries.append((key.string, keyNode, value))
        }
        return result
    }

    func sequence(_ node: Node, _ what: String) throws(ContractError) -> [Node] {
        guard case .sequence(let sequence) = node else { throw error(node, "`\(what)` must be a list") }
        return Array(sequence)
    }

    func string(_ node: Node, _ what: String) throws(ContractError) -> String {
        guard case .scalar(let scalar) = node else { throw error(node, "`\(what)` must be a single value") }
        guard !scalar.string.isEmpty else { throw error(node, "`\(what)` is empty") }
        return scalar.string
    }

    func int(_ node: Node, _ what: String) throws(ContractError) -> Int {
        guard let value = Int(try string(node, what)) else { throw error(node, "`\(what)` must be a whole number") }
        return value
    }

    /// A switch that forbids something: `deny` (or true, yes, on) or `allow` (or false, no, off).
    func bool(_ node: Node, _ what: String) throws(ContractError) -> Bool {
        let text = try string(node, what)
        switch text.lowercased() {
        case "true", "yes", "on", "deny": return true
        case "false", "no", "off", "allow": return false
        default: throw error(node, "`\(what)` is deny or allow (or true or false), not `\(text)`")
        }
    }

    /// A single value or a list of values.
    func strings(_ node: Node, _ what: String) throws(ContractError) -> [(String, Node)] {
        if case .sequence(let sequence) = node {
            var out: [(String, Node)] = []
            for item in sequence { out.append((try string(item, what), item)) }
            return out
        }
        return [(try string(node, what), node)]
    }

    func identifier(_ node: Node, _ what: String) throws(ContractError) -> String {
        let text = try string(node, what)
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_./"))
        guard text.unicodeScalars.allSatisfy({ allowed.contains($0) }) else {
            throw error(node, "`\(what)` may use letters, digits, `-`, `_`, `.` and `/` only: \(text)")
        }
        return text
    }

    func contract(_ node: Node) throws(ContractError) -> Contract {
        let map = try mapping(node, "a contract", keys: ["name", "description", "match", "extends", "rules", "amend"])
        guard let nameNode = map["name"] else { throw error(node, "a contract needs a `name`") }
        let name = try identifier(nameNode, "name")
        guard let matchNode = map["match"] else { throw error(node, "contract `\(name)` needs a `match`") }
        var rules: [Rule] = []
        var seen: [String: SourceLocation] = [:]
        if let list = map["rules"] {
            for ruleNode in try sequence(list, "rules") {
                do throws(ContractError) {
                    let rule = try self.rule(ruleNode)
                    if let first = seen[rule.id] {
                        throw error(ruleNode, "rule id `\(rule.id)` is used twice in contract `\(name)` (first at \(first))")
                    }
                    seen[rule.id] = rule.location
                    rules.append(rule)
                } catch {
                    problems.add(error)
                }
            }
        }
        var amendments: [Amendment] = []
        if let list = map["amend"] {
            guard map["extends"] != nil else { throw error(list, "`amend` changes inherited rules: contract `\(name)` needs `extends`") }
            for item in try sequence(list, "amend") {
                do throws(ContractError) {
                    let amend = try mapping(item, "an amendment", keys: ["rule", "except"])
                    guard let ruleNode = amend["rule"] else { throw error(item, "an amendment names the `rule` it amends") }
                    guard let exceptNode = amend["except"] else { throw error(item, "an amendment needs `except`") }
                    amendments.append(Amendment(
                        ruleID: try identifier(ruleNode, "rule"), exceptions: try exceptions(exceptNode), location: location(item)))
                } catch {
                    problems.add(error)
                }
            }
        }
        return Contract(
            name: name, description: try map["description"].map { n throws(ContractError) in try string(n, "description") },
            selector: try selector(matchNode), extends: try map["extends"].map { n throws(ContractError) in try identifier(n, "extends") },
            rules: rules, amendments: amendments, location: location(node))
    }

    func selector(_ node: Node) throws(ContractError) -> PackageSelector {
        var selector = PackageSelector()
        if case .scalar(let scalar) = node {
            switch scalar.string {
            case "default": selector.isDefault = true
            case "unattributed": selector.isUnattributed = true
            case "workspace": selector.isWorkspace = true
            default: throw error(node, "`match` is `default`, `unattributed`, `workspace` or a mapping (purl, name, ecosystem, source, standing)")
            }
            return selector
        }
        let map = try mapping(node, "`match`", keys: ["purl", "name", "ecosystem", "source", "standing"])
        guard !map.entries.isEmpty else { throw error(node, "`match` selects nothing: give purl, name, ecosystem, source or standing") }
        for (text, _) in try map["purl"].map({ n throws(ContractError) in try strings(n, "purl") }) ?? [] {
            selector.purls.append(TextPattern(text))
        }
        for (text, _) in try map["name"].map({ n throws(ContractError) in try strings(n, "name") }) ?? [] {
            selector.names.append(TextPattern(text))
        }
        for (text, _) in try map["ecosystem"].map({ n throws(ContractError) in try strings(n, "ecosystem") }) ?? [] {
            selector.ecosystems.append(text.lowercased())
        }
        for (text, item) in try map["source"].map({ n throws(ContractError) in try strings(n, "source") }) ?? [] {
            guard let source = InstalledPackage.Source(rawValue: text) else {
                throw error(item, "unknown source `\(text)` (expected sbom, dpkg, pip or npm)")
            }
            selector.sources.append(source)
        }
        for (text, item) in try map["standing"].map({ n throws(ContractError) in try strings(n, "standing") }) ?? [] {
            guard let standing = Standing(rawValue: text) else {
                throw error(item, "unknown standing `\(text)` (expected direct, transitive, new or changed)")
            }
            selector.standings.append(standing)
        }
        return selector
    }

    static let ruleKinds = ["network", "files", "exec", "process", "secrets", "integrity"]

    func rule(_ node: Node) throws(ContractError) -> Rule {
        let map = try mapping(
            node, "a rule", keys: Set(["id", "description", "severity", "action", "except"] + Self.ruleKinds))
        guard let idNode = map["id"] else { throw error(node, "a rule needs an `id`") }
        let id = try identifier(idNode, "id")
        let kinds = map.entries.filter { Self.ruleKinds.contains($0.key) }
        guard kinds.count == 1, let (kind, _, bodyNode) = kinds.first else {
            throw error(node, "rule `\(id)` needs exactly one of network, files, exec, process, secrets, integrity (found \(kinds.count))")
        }
        var severity = Severity.high
        if let n = map["severity"] {
            let text = try string(n, "severity")
            guard let s = Severity(rawValue: text) else {
                throw error(n, "unknown severity `\(text)` (expected low, medium, high or critical)")
            }
            severity = s
        }
        var action = RuleAction.alert
        if let n = map["action"] {
            let text = try string(n, "action")
            guard let a = RuleAction(rawValue: text) else {
                throw error(n, "unknown action `\(text)` (expected alert, kill or deny)")
            }
            action = a
        }
        let body: RuleBody
        switch kind {
        case "network": body = .network(try network(bodyNode))
        case "files": body = .files(try files(bodyNode))
        case "exec": body = .exec(try exec(bodyNode))
        case "process": body = .process(try process(bodyNode))
        case "integrity": body = .integrity(try integrity(bodyNode))
        default: body = .secrets(try secrets(bodyNode))
        }
        switch (action, body) {
        case (.deny, .network), (.kill, .exec), (.kill, .files), (.kill, .secrets), (.alert, _): break
        case (.kill, .process(let p)) where p.unmonitoredSyscalls && !p.outlive && !p.daemonize && !p.persistence:
            break  // killed at the unmonitored call itself
        case (.deny, _):
            throw error(map["action"] ?? node, "`deny` applies to network rules; rule `\(id)` is a \(body.category) rule (use kill or alert)")
        case (.kill, _):
            throw error(map["action"] ?? node, "`kill` applies to exec, files and secrets rules and to `process: unmonitored-syscalls` alone; rule `\(id)` is a \(body.category) rule (use \(body.category == "network" ? "deny" : "alert"))")
        }
        var except = RuleExceptions()
        if let n = map["except"] { except = try exceptions(n) }
        return Rule(
            id: id, description: try map["description"].map { n throws(ContractError) in try string(n, "description") },
            severity: severity, action: action, body: body, exceptions: except, location: location(node))
    }

    func exceptions(_ node: Node) throws(ContractError) -> RuleExceptions {
        let map = try mapping(node, "`except`", keys: ["exe", "path", "destination"])
        var except = RuleExceptions()
        if let exe = map["exe"] { except.executables = try patterns(exe, "exe", allowPackage: false) }
        if let path = map["path"] { except.paths = try patterns(path, "path") }
        if let list = map["destination"] {
            except.destinations = try sequence(list, "destination").map { n throws(ContractError) in try networkEntry(n) }
        }
        return except
    }

    /// Path patterns: absolute, or starting with a variable; `{package}` only at the start.
    func patterns(_ node: Node, _ what: String, allowPackage: Bool = true) throws(ContractError) -> [WrittenPattern] {
        var out: [WrittenPattern] = []
        for (text, item) in try strings(node, what) {
            var rest = Substring(text)
            while let open = rest.firstIndex(of: "{") {
                guard let close = rest[open...].firstIndex(of: "}") else {
                    throw error(item, "unclosed `{` in \(text)")
                }
                let name = String(rest[rest.index(after: open)..<close])
                guard PolicyLoader.variables.contains(name) else {
                    throw error(item, "unknown variable {\(name)} in \(text) (expected {package}, {home}, {tmp} or {workspace})")
                }
                if name == "package" {
                    guard allowPackage else { throw error(item, "{package} cannot be used in `\(what)`") }
                    guard open == text.startIndex else { throw error(item, "{package} must start the pattern: \(text)") }
                }
                rest = rest[rest.index(after: close)...]
            }
            guard text.hasPrefix("/") || text.hasPrefix("{") else {
                throw error(item, "path patterns are absolute or start with a variable: \(text)")
            }
            if text.split(separator: "/").contains(where: { $0.contains("**") && $0 != "**" }) {
                throw error(item, "`**` must be a whole path segment (as in /a/**/b): \(text)")
            }
            out.append(WrittenPattern(text: text, location: location(item)))
        }
        return out
    }

    func network(_ node: Node) throws(ContractError) -> NetworkRule {
        if case .scalar(let scalar) = node {
            guard scalar.string == "none" else { throw error(node, "`network` is `none` or a mapping with allow / deny lists") }
            return NetworkRule(allow: [], deny: [])
        }
        let map = try mapping(node, "`network`", keys: ["allow", "deny"])
        var rule = NetworkRule()
        if let allow = map["allow"] { rule.allow = try sequence(allow, "allow").map { n throws(ContractError) in try networkEntry(n) } }
        if let deny = map["deny"] { rule.deny = try sequence(deny, "deny").map { n throws(ContractError) in try networkEntry(n) } }
        return rule
    }

    func networkEntry(_ node: Node) throws(ContractError) -> NetworkEntry {
        let map = try mapping(node, "a network entry", keys: ["host", "cidr", "port", "protocol", "unix"])
        guard !map.entries.isEmpty else { throw error(node, "a network entry needs host, cidr, port, protocol or unix") }
        var entry = NetworkEntry(location: location(node))
        for (text, item) in try map["host"].map({ n throws(ContractError) in try strings(n, "host") }) ?? [] {
            guard !text.contains("/"), !text.contains(":") || AddressRange(text) != nil else {
                throw error(item, "`host` is a hostname pattern (use `cidr` for addresses, `port` for ports): \(text)")
            }
            if let range = AddressRange(text) { entry.networks.append(range) } else { entry.hosts.append(TextPattern(text)) }
        }
        for (text, item) in try map["cidr"].map({ n throws(ContractError) in try strings(n, "cidr") }) ?? [] {
            if text == PolicyLoader.resolversVariable {
                entry.resolvers = true
                continue
            }
            if text.hasPrefix("{") {
                throw error(item, "unknown variable \(text.prefix(40)) in `cidr` (expected {resolvers})")
            }
            guard let range = AddressRange(text) else { throw error(item, "not an address or CIDR network: \(text)") }
            entry.networks.append(range)
        }
        for (text, item) in try map["port"].map({ n throws(ContractError) in try strings(n, "port") }) ?? [] {
            guard let range = PortRange(text) else { throw error(item, "not a port or port range (1-65535): \(text)") }
            entry.ports.append(range)
        }
        for (text, item) in try map["protocol"].map({ n throws(ContractError) in try strings(n, "protocol") }) ?? [] {
            guard ["tcp", "udp", "unix"].contains(text.lowercased()) else {
                throw error(item, "unknown protocol `\(text)` (expected tcp, udp or unix)")
            }
            entry.protocols.append(text.lowercased())
        }
        if let unix = map["unix"] { entry.unixPaths = try patterns(unix, "unix", allowPackage: false) }
        return entry
    }

    func files(_ node: Node) throws(ContractError) -> FileRule {
        let map = try mapping(node, "`files`", keys: Set(FileAccess.allCases.map(\.rawValue)))
        guard !map.entries.isEmpty else { throw error(node, "`files` needs read, write, create or delete") }
        var rule = FileRule()
        for (key, _, value) in map.entries {
            guard let access = FileAccess(rawValue: key) else { continue }
            let lists = try mapping(value, "`\(key)`", keys: ["allow", "deny"])
            var result = AccessLists()
            if let allow = lists["allow"] { result.allow = try patterns(allow, "allow") }
            if let deny = lists["deny"] { result.deny = try patterns(deny, "deny") }
            rule.access[access] = result
        }
        return rule
    }

    func exec(_ node: Node) throws(ContractError) -> ExecRule {
        if case .scalar(let scalar) = node {
            guard scalar.string == "none" else { throw error(node, "`exec` is `none` or a mapping with allow / deny lists") }
            return ExecRule(allow: [], deny: [])
        }
        let map = try mapping(node, "`exec`", keys: ["allow", "deny", "memory-backed"])
        var rule = ExecRule()
        if let allow = map["allow"] { rule.allow = try patterns(allow, "allow") }
        if let deny = map["deny"] { rule.deny = try patterns(deny, "deny") }
        if let n = map["memory-backed"] { rule.memoryBacked = try bool(n, "memory-backed") }
        return rule
    }

    func process(_ node: Node) throws(ContractError) -> ProcessRule {
        let map = try mapping(
            node, "`process`",
            keys: ["outlive", "daemonize", "persistence", "persistence-paths", "python-startup", "unmonitored-syscalls"])
        var rule = ProcessRule()
        if let n = map["outlive"] { rule.outlive = try bool(n, "outlive") }
        if let n = map["daemonize"] { rule.daemonize = try bool(n, "daemonize") }
        if let n = map["persistence"] { rule.persistence = try bool(n, "persistence") }
        if let n = map["unmonitored-syscalls"] { rule.unmonitoredSyscalls = try bool(n, "unmonitored-syscalls") }
        if let n = map["persistence-paths"] {
            rule.persistencePaths = try patterns(n, "persistence-paths", allowPackage: false)
            rule.persistence = true
        }
        if let n = map["python-startup"] { rule.pythonStartup = try bool(n, "python-startup") }
        guard rule.outlive || rule.daemonize || rule.persistence || rule.pythonStartup || rule.unmonitoredSyscalls else {
            throw error(node, "`process` forbids nothing: set outlive, daemonize, persistence, python-startup or unmonitored-syscalls to deny")
        }
        return rule
    }

    func integrity(_ node: Node) throws(ContractError) -> IntegrityRule {
        let map = try mapping(node, "`integrity`", keys: ["changed", "unlisted", "unlisted-executable"])
        var rule = IntegrityRule()
        if let n = map["changed"] { rule.changed = try bool(n, "changed") }
        if let n = map["unlisted"] { rule.unlisted = try bool(n, "unlisted") }
        if let n = map["unlisted-executable"] { rule.unlistedExecutable = try bool(n, "unlisted-executable") }
        guard rule.changed || rule.unlisted || rule.unlistedExecutable else {
            throw error(node, "`integrity` forbids nothing: set changed, unlisted or unlisted-executable to deny")
        }
        return rule
    }

    func secrets(_ node: Node) throws(ContractError) -> SecretsRule {
        let map = try mapping(node, "`secrets`", keys: ["credentials", "process-memory", "paths", "readers"])
        var rule = SecretsRule()
        if let n = map["credentials"] { rule.credentials = try bool(n, "credentials") }
        if let n = map["process-memory"] { rule.processMemory = try bool(n, "process-memory") }
        if let n = map["paths"] { rule.paths = try patterns(n, "paths", allowPackage: false) }
        guard rule.credentials || rule.processMemory || !rule.paths.isEmpty else {
            throw error(node, "`secrets` forbids nothing: set credentials or process-memory to deny, or list paths")
        }
        if let list = map["readers"] {
            guard rule.credentials || !rule.paths.isEmpty else {
                throw error(list, "`readers` name who may read credential files: set credentials to deny, or list paths")
            }
            for item in try sequence(list, "readers") {
                rule.readers.append(try readers(item))
            }
        }
        return rule
    }

    /// One `readers:` entry: `{exe: [absolute paths], files: [patterns]}`.
    func readers(_ node: Node) throws(ContractError) -> CredentialReaders {
        let map = try mapping(node, "a `readers` entry", keys: ["exe", "files"])
        guard let exeNode = map["exe"] else { throw error(node, "a `readers` entry needs `exe`: the programs that may read") }
        let executables = try patterns(exeNode, "exe", allowPackage: false)
        for pattern in executables where pattern.text.hasPrefix("{") {
            // A reader is a program installed on the machine, not something under a home,
            // temporary or workspace directory that the build itself can write.
            throw ContractError(pattern.location, "`readers` executables are absolute paths of installed programs, not variables: \(pattern.text)")
        }
        for pattern in executables where pattern.text.split(separator: "/").contains("**") {
            throw ContractError(pattern.location, "`readers` executables name programs: `**` would let any program read: \(pattern.text)")
        }
        var files: [WrittenPattern] = []
        if let n = map["files"] { files = try patterns(n, "files", allowPackage: false) }
        return CredentialReaders(executables: executables, files: files, location: location(node))
    }
}

/// A YAML mapping's entries in file order, looked up by key.
struct OrderedMapping {
    var entries: [(key: String, keyNode: Node, value: Node)] = []

    subscript(key: String) -> Node? { entries.first { $0.key == key }?.value }
}

extension PolicyLoader {
    /// The name the built-in policy goes by in errors and reports.
    public static let builtInPolicyName = "(built-in) policies/default.yaml"

    /// The built-in contracts (policies/default.yaml, compiled into the binary).
    public static func builtIn() throws(ContractError) -> PolicyDocument {
        try parse(String(decoding: PackageResources.default_yaml, as: UTF8.self), file: builtInPolicyName)
    }

    /// `dir/` of a file's path (empty for a bare name): where its relative `base` entries are.
    static func directory(of file: String) -> String {
        guard let slash = file.lastIndex(of: "/") else { return "" }
        return String(file[...slash])
    }

    /// The documents a run judges by: each of `files` (`builtin` names the built-in policy;
    /// none means it alone), then, when `followingBase`, the policies their `base:` lists name
    /// (and theirs), each once, after every file that named them: a learnt file comes first and
    /// the built-in contracts it extends after it. Throws the first problem.
    public static func documents(_ files: [String], followingBase: Bool = true) throws(ContractError) -> [PolicyDocument] {
        var documents: [PolicyDocument] = []
        var failure: ContractError?
        let overflow = visit(files, followingBase: followingBase) { file in
            guard failure == nil else { return nil }
            do throws(ContractError) {
                let document = file == "builtin" ? try builtIn() : try load(contentsOf: file)
                documents.append(document)
                return document
            } catch {
                failure = error
                return nil
            }
        }
        if let failure { throw failure }
        if let overflow { throw overflow }
        return documents
    }

    /// The most policy files one run reads through `base:`.
    public static let maximumPolicyFiles = 64

    /// Calls `read` for each of `files` (none: `builtin`) and, when `followingBase`, for the
    /// `base` entries of what it returns, breadth first, each file once (by real path). Returns
    /// the error for a chain of more than ``maximumPolicyFiles`` files, having read that many.
    public static func visit(
        _ files: [String], followingBase: Bool = true, _ read: (String) -> PolicyDocument?
    ) -> ContractError? {
        var seen = Set<String>()
        var queue = files.isEmpty ? ["builtin"] : files
        var index = 0
        while index < queue.count {
            let file = queue[index]
            index += 1
            guard seen.insert(identity(of: file)).inserted else { continue }
            guard seen.count <= maximumPolicyFiles else {
                return ContractError(file: file, message: "more than \(maximumPolicyFiles) policy files through `base:`")
            }
            if let document = read(file), followingBase { queue += document.base }
        }
        return nil
    }

    /// What makes two names of a policy the same file: `builtin`, or the real path.
    private static func identity(of file: String) -> String {
        guard file != "builtin", let resolved = realpath(file, nil) else { return file }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
