import Foundation
import Yams

/// Writes the smallest contract file under which a known-good run passes: for every package that
/// broke a rule, a contract that `extends` the contract that judged it and `amend`s each broken
/// rule with exceptions for exactly what the package did (hosts, generalised paths, executables).
///
/// Used with the contracts it was learnt against, listed first:
/// `probity run --policy learned.yaml --policy builtin -- CMD`.
public struct ContractLearner {
    public let variables: ContractVariables
    private var packages: [String: LearnedPackage] = [:]
    private var order: [String] = []

    struct LearnedPackage {
        var name: String
        var ecosystem: String?
        /// No package: `unattributed` or `workspace` (the selector the learnt contract uses).
        var unattributed: Bool
        var workspace = false
        var contract: String
        /// Rule id → exceptions, in order of first violation.
        var amendments: [(String, Set<String>, [LearnedDestination])] = []
        var executables: [String: Set<String>] = [:]
    }

    struct LearnedDestination: Hashable {
        var host: String?
        var cidr: String?
        var port: UInt16?
        var unix: String?
    }

    public init(variables: ContractVariables) { self.variables = variables }

    /// Records what `violation` needs allowed.
    public mutating func learn(from violation: Violation) {
        let workspace = violation.package == nil && violation.attribution.reason == "workspace"
        let unowned = workspace ? "workspace" : "unattributed"
        let key = violation.package.map { "\($0.ecosystem)/\($0.name)\u{1}\(violation.contract)" } ?? "\u{1}\(unowned)\u{1}\(violation.contract)"
        if packages[key] == nil {
            order.append(key)
            packages[key] = LearnedPackage(
                name: violation.package?.name ?? unowned, ecosystem: violation.package?.ecosystem,
                unattributed: violation.package == nil, workspace: workspace, contract: violation.contract)
        }
        guard var learned = packages[key] else { return }
        var index = learned.amendments.firstIndex { $0.0 == violation.rule }
        if index == nil {
            learned.amendments.append((violation.rule, [], []))
            index = learned.amendments.count - 1
        }
        guard let i = index else { return }
        let e = violation.evidence
        switch e.operation {
        case "open", "exec":
            if let path = e.path { learned.amendments[i].1.insert(generalise(path)) }
        case "process":
            if let path = e.path { learned.executables[violation.rule, default: []].insert(path) }
        default:
            var destination = LearnedDestination()
            if e.protocol == "unix" {
                destination.unix = e.address
            } else if let host = e.hostnames?.first {
                destination.host = host
                destination.port = e.port
            } else {
                destination.cidr = e.address
                destination.port = e.port
            }
            if !learned.amendments[i].2.contains(destination) { learned.amendments[i].2.append(destination) }
        }
        packages[key] = learned
    }

    /// How many packages needed a contract.
    public var packageCount: Int { packages.count }

    /// The learnt policy file, as YAML.
    /// `base`: the policies the learnt contracts extend (`builtin`, paths), written as the file's
    /// `base:` so that they come with it.
    public func yaml(header: String, base: [String] = ["builtin"]) -> String {
        var contracts: [Node] = []
        for key in order {
            guard let p = packages[key] else { continue }
            var match: Node
            if p.unattributed {
                match = Node(p.workspace ? "workspace" : "unattributed")
            } else {
                var pairs: [(Node, Node)] = [("name", Node(p.name))]
                if let ecosystem = p.ecosystem { pairs.append(("ecosystem", Node(ecosystem))) }
                match = Node.mapping(Node.Mapping(pairs, .implicit, .flow))
            }
            var amendments: [Node] = []
            for (rule, paths, destinations) in p.amendments {
                var except: [(Node, Node)] = []
                let exes = p.executables[rule] ?? []
                if !exes.isEmpty { except.append(("exe", Node.sequence(Node.Sequence(exes.sorted().map { Node($0) })))) }
                if !paths.isEmpty { except.append(("path", Node.sequence(Node.Sequence(paths.sorted().map { Node($0) })))) }
                let unixPaths = destinations.compactMap(\.unix)
                if !unixPaths.isEmpty {
                    let existing = except.firstIndex { $0.0 == "path" }
                    let all = Set(paths).union(unixPaths).sorted().map { Node($0) }
                    if let existing { except[existing].1 = Node.sequence(Node.Sequence(all)) } else { except.append(("path", Node.sequence(Node.Sequence(all)))) }
                }
                let network = destinations.filter { $0.unix == nil }.map { d -> Node in
                    var pairs: [(Node, Node)] = []
                    if let host = d.host { pairs.append(("host", Node(host))) }
                    if let cidr = d.cidr { pairs.append(("cidr", Node(cidr))) }
                    if let port = d.port { pairs.append(("port", Node(String(port), Tag(.int)))) }
                    return Node.mapping(Node.Mapping(pairs, .implicit, .flow))
                }
                if !network.isEmpty { except.append(("destination", Node.sequence(Node.Sequence(network)))) }
                if except.isEmpty { continue }
                amendments.append(Node.mapping(Node.Mapping([("rule", Node(rule)), ("except", Node.mapping(Node.Mapping(except)))])))
            }
            let name = "learned/" + (p.unattributed ? (p.workspace ? "workspace" : "unattributed") : (p.ecosystem.map { "\($0)/" } ?? "") + p.name)
                + (p.contract == "default" ? "" : "+\(p.contract)")
            contracts.append(Node.mapping(Node.Mapping([
                ("name", Node(Self.safeName(name))),
                ("match", match),
                ("extends", Node(p.contract)),
                ("amend", Node.sequence(Node.Sequence(amendments))),
            ])))
        }
        let document = Node.mapping(Node.Mapping([
            ("version", Node("1", Tag(.int))),
            ("base", Node.sequence(Node.Sequence(base.map { Node($0) }, Tag(.seq), .flow))),
            ("contracts", Node.sequence(Node.Sequence(contracts))),
        ]))
        let body = (try? Yams.serialize(node: document, width: -1)) ?? "version: 1\ncontracts: []\n"
        return header.split(separator: "\n", omittingEmptySubsequences: false).map { "# \($0)" }.joined(separator: "\n") + "\n" + body
    }

    static func safeName(_ text: String) -> String {
        String(text.map { $0.isLetter || $0.isNumber || "-_./+".contains($0) ? $0 : "-" }).replacingOccurrences(of: "+", with: ".")
    }

    /// A path with the run's accidents taken out: the variable directories named, pids and
    /// random temporary names replaced by `*`.
    public func generalise(_ path: String) -> String {
        var segments = path.split(separator: "/").map(String.init)
        if segments.first == "proc", segments.count >= 2, Int(segments[1]) != nil || segments[1] == "self" {
            segments[1] = "*"
            if segments.count >= 4, segments[2] == "task" { segments[3] = "*" }
            return "/" + segments.joined(separator: "/")
        }
        func under(_ directory: String) -> [String]? {
            let parts = directory.split(separator: "/").map(String.init)
            guard !parts.contains(where: { $0.contains("*") }), segments.count >= parts.count,
                  Array(segments.prefix(parts.count)) == parts else { return nil }
            return Array(segments.dropFirst(parts.count))
        }
        // The most specific directory wins: a home inside /tmp is `{home}`.
        var best: (variable: String, rest: [String], depth: Int)?
        let candidates = variables.homes.map { ("{home}", $0) } + variables.temporaryDirectories.map { ("{tmp}", $0) }
            + [("{workspace}", variables.workspace)]
        for (variable, directory) in candidates {
            guard let rest = under(directory) else { continue }
            let depth = segments.count - rest.count
            if depth > (best?.depth ?? 0) { best = (variable, rest, depth) }
        }
        if let best {
            let rest = best.variable == "{tmp}" ? best.rest.map(Self.generaliseSegment) : best.rest
            return ([best.variable] + rest).joined(separator: "/")
        }
        return path
    }

    /// `tmpa_4pc8zb` → `*`, `.stage2-12062` → `.stage2-*`: runs of three or more digits, and
    /// segments that look random, become wildcards.
    static func generaliseSegment(_ segment: String) -> String {
        let digits = segment.filter(\.isNumber).count
        let letters = segment.filter(\.isLetter).count
        if segment.count >= 6 && digits >= 2 && letters >= 2 && !segment.contains(".") && !segment.contains("-") { return "*" }
        var out = ""
        var run = ""
        for c in segment {
            if c.isNumber { run.append(c); continue }
            out += run.count >= 3 ? "*" : run
            run = ""
            out.append(c)
        }
        out += run.count >= 3 ? "*" : run
        return out
    }
}
