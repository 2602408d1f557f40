import Foundation
import ProbityAttribution
import ProbityEvents

/// The values of the variables path patterns use.
public struct ContractVariables: Sendable, Hashable {
    /// `{home}`: home directories (patterns allowed, e.g. `/home/*`).
    public var homes: [String]
    /// `{tmp}`: temporary directories.
    public var temporaryDirectories: [String]
    /// `{workspace}`: the project being built.
    public var workspace: String
    /// `{resolvers}` (in `cidr` lists): the DNS servers the machine's resolver asks.
    public var resolvers: [AddressRange]

    public init(homes: [String], temporaryDirectories: [String], workspace: String, resolvers: [AddressRange] = []) {
        self.homes = homes
        self.temporaryDirectories = temporaryDirectories
        self.workspace = workspace
        self.resolvers = resolvers
    }

    /// `$HOME`, `/root` and `/home/*`; `$TMPDIR`, `/tmp`, `/var/tmp`, `/dev/shm`;
    /// `$GITHUB_WORKSPACE` or the current directory; the nameservers of `resolvers` (read from
    /// /etc/resolv.conf when not given).
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment, resolvers: ResolverConfiguration? = nil
    ) -> ContractVariables {
        func clean(_ path: String) -> String {
            var path = path
            while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
            return path
        }
        var homes = ["/root", "/home/*"]
        if let home = environment["HOME"], home.hasPrefix("/"), home != "/" { homes.insert(clean(home), at: 0) }
        var tmps = ["/tmp", "/var/tmp", "/dev/shm"]
        if let tmp = environment["TMPDIR"], tmp.hasPrefix("/"), tmp != "/" { tmps.insert(clean(tmp), at: 0) }
        let workspace = environment["GITHUB_WORKSPACE"] ?? FileManager.default.currentDirectoryPath
        return ContractVariables(
            homes: Array(NSOrderedSet(array: homes)) as? [String] ?? homes,
            temporaryDirectories: Array(NSOrderedSet(array: tmps)) as? [String] ?? tmps,
            workspace: clean(workspace),
            resolvers: (resolvers ?? ResolverConfiguration.load()).addressRanges)
    }

    /// Every expansion of `pattern`'s variables except `{package}`.
    func expand(_ pattern: String) -> [String] {
        var results = [pattern]
        for (name, values) in [("{home}", homes), ("{tmp}", temporaryDirectories), ("{workspace}", [workspace])] {
            results = results.flatMap { text in
                text.contains(name) ? values.map { text.replacingOccurrences(of: name, with: $0) } : [text]
            }
        }
        return results
    }
}

/// Path patterns compiled for matching: absolute globs, and globs relative to the package's
/// own directory (`{package}/...`).
struct CompiledPatterns: Sendable {
    /// What matching reads, in one object: rules are classes that hold several pattern lists, and
    /// reading a list out of one costs a reference count per stored array (measured: the
    /// evaluator's largest cost once the prefixes were in a trie). Never mutated once shared:
    /// adding a pattern builds a new one (only while a contract is compiled).
    private final class Storage: Sendable {
        let absolute: [PathGlob]
        /// The absolute patterns by literal prefix: which of them can match a path at all.
        let absoluteByPrefix: LiteralPrefixTrie
        let packageRelative: [PathGlob]

        init(absolute: [PathGlob] = [], absoluteByPrefix: LiteralPrefixTrie = LiteralPrefixTrie(), packageRelative: [PathGlob] = []) {
            self.absolute = absolute
            self.absoluteByPrefix = absoluteByPrefix
            self.packageRelative = packageRelative
        }
    }

    private var storage = Storage()
    /// Absolute globs, in the order written.
    var absolute: [PathGlob] { storage.absolute }
    /// Globs relative to the package's directory, in the order written.
    var packageRelative: [PathGlob] { storage.packageRelative }
    var isEmpty: Bool { storage.absolute.isEmpty && storage.packageRelative.isEmpty }

    init() {}

    init(_ written: [WrittenPattern], variables: ContractVariables) {
        for pattern in written { add(pattern.text, variables: variables) }
    }

    init(texts: [String], variables: ContractVariables) {
        for text in texts { add(text, variables: variables) }
    }

    mutating func add(_ text: String, variables: ContractVariables) {
        if text.hasPrefix("{package}") {
            let rest = text.dropFirst("{package}".count)
            let relative = variables.expand(String(rest)).map { PathGlob($0, relative: true) }
            storage = Storage(absolute: storage.absolute, absoluteByPrefix: storage.absoluteByPrefix,
                              packageRelative: storage.packageRelative + relative)
        } else {
            for expanded in variables.expand(text) { append(PathGlob(expanded)) }
        }
    }

    /// Adds an absolute pattern.
    mutating func append(_ glob: PathGlob) {
        var trie = storage.absoluteByPrefix
        trie.append(prefix: glob.literalPrefix)
        storage = Storage(absolute: storage.absolute + [glob], absoluteByPrefix: trie, packageRelative: storage.packageRelative)
    }

    /// The first pattern `path` matches, if any.
    func firstMatch(_ path: PathSegments, packageRoot: String?) -> PathGlob? {
        let storage = self.storage
        let absolute = storage.absolute
        if !absolute.isEmpty,
           let index = storage.absoluteByPrefix.firstMatch(path.bytes, where: { absolute[$0].matchesAfterPrefix(path) }) {
            return absolute[index]
        }
        let packageRelative = storage.packageRelative
        guard !packageRelative.isEmpty, var root = packageRoot, !root.isEmpty else { return nil }
        return root.withUTF8 { rootBytes -> PathGlob? in
            let rootSegments = PathSegments(rootBytes)
            let bytes = path.bytes
            guard bytes.count >= rootBytes.count, rootSegments.ranges.count <= path.ranges.count else { return nil }
            for i in 0..<rootBytes.count where bytes[i] != rootBytes[i] { return nil }
            if bytes.count > rootBytes.count && bytes[rootBytes.count] != UInt8(ascii: "/") && rootBytes.last != UInt8(ascii: "/") {
                return nil
            }
            let relative = path.dropping(rootSegments.ranges.count)
            for glob in packageRelative where glob.matches(relative) { return glob }
            return nil
        }
    }
}

/// A `readers:` entry compiled: the programs, and the credential files they may read (empty:
/// all of the rule's).
struct CompiledReaders: Sendable {
    var executables: CompiledPatterns
    var files: CompiledPatterns
}

/// One rule, compiled: matchers built once, shared by every evaluation. A class, so walking a
/// contract's rules per event costs a reference count per rule, not a copy of every matcher.
final class CompiledRule: Sendable {
    let rule: Rule
    let contract: String
    /// Executables the rule does not apply to.
    let except: CompiledPatterns
    /// Targets the rule does not apply to.
    let exceptPaths: CompiledPatterns
    let exceptDestinations: [NetworkEntryMatcher]

    /// Whether `except` exempts a target `path` or a process running `executable`.
    func exempts(path: String, executable: String) -> Bool {
        var path = path, executable = executable
        if !exceptPaths.isEmpty, path.withUTF8({ exceptPaths.firstMatch(PathSegments($0), packageRoot: nil) != nil }) { return true }
        return !except.isEmpty && executable.withUTF8 { except.firstMatch(PathSegments($0), packageRoot: nil) != nil }
    }

    // network
    let networkAllow: [NetworkEntryMatcher]?
    let networkDeny: [NetworkEntryMatcher]
    // files
    let fileAllow: [FileAccess: CompiledPatterns]
    let fileDeny: [FileAccess: CompiledPatterns]
    /// The same lists by `FileAccess.index`, for the evaluator (no hashing per event).
    let fileAllowByAccess: [CompiledPatterns?]
    let fileDenyByAccess: [CompiledPatterns?]
    // exec
    let execAllow: CompiledPatterns?
    let execDeny: CompiledPatterns
    /// `memory-backed: deny`.
    let execMemoryBacked: Bool
    // process / secrets
    let persistence: CompiledPatterns
    /// Python start-up hooks (`python-startup: deny`).
    let pythonStartup: CompiledPatterns
    let credentials: CompiledPatterns
    /// The credential files that existed when the rule was compiled, by object (device and
    /// inode), with the path they were found at: a read of one under any other name (a hard
    /// link, a bind mount) is a read of the credential.
    let credentialObjects: [FileObject: String]
    let readers: [CompiledReaders]
    let processMemory: Bool
    let outlive: Bool
    let daemonize: Bool
    let unmonitoredSyscalls: Bool

    init(
        rule: Rule, contract: String, variables: ContractVariables,
        objects: (String, Bool) -> [(String, FileObject)] = EnforcementPlan.existingFiles
    ) {
        self.rule = rule
        self.contract = contract
        except = CompiledPatterns(rule.exceptions.executables, variables: variables)
        exceptPaths = CompiledPatterns(rule.exceptions.paths, variables: variables)
        exceptDestinations = rule.exceptions.destinations.map { NetworkEntryMatcher($0, variables: variables) }
        var networkAllow: [NetworkEntryMatcher]?, networkDeny: [NetworkEntryMatcher] = []
        var fileAllow: [FileAccess: CompiledPatterns] = [:], fileDeny: [FileAccess: CompiledPatterns] = [:]
        var execAllow: CompiledPatterns?, execDeny = CompiledPatterns(), execMemoryBacked = false
        var persistence = CompiledPatterns(), pythonStartup = CompiledPatterns(), credentials = CompiledPatterns()
        var credentialObjects: [FileObject: String] = [:], readers: [CompiledReaders] = []
        var processMemory = false, outlive = false, daemonize = false, unmonitoredSyscalls = false
        switch rule.body {
        case .network(let network):
            networkAllow = network.allow.map { $0.map { NetworkEntryMatcher($0, variables: variables) } }
            networkDeny = network.deny.map { NetworkEntryMatcher($0, variables: variables) }
        case .files(let files):
            for (access, lists) in files.access {
                if let allow = lists.allow { fileAllow[access] = CompiledPatterns(allow, variables: variables) }
                fileDeny[access] = CompiledPatterns(lists.deny, variables: variables)
            }
        case .exec(let exec):
            execAllow = exec.allow.map { CompiledPatterns($0, variables: variables) }
            execDeny = CompiledPatterns(exec.deny, variables: variables)
            execMemoryBacked = exec.memoryBacked
        case .process(let process):
            outlive = process.outlive
            daemonize = process.daemonize
            unmonitoredSyscalls = process.unmonitoredSyscalls
            if process.persistence {
                persistence = CompiledPatterns(texts: BuiltinLocations.persistence, variables: variables)
                for p in process.persistencePaths { persistence.add(p.text, variables: variables) }
            }
            if process.pythonStartup {
                pythonStartup = CompiledPatterns(texts: BuiltinLocations.pythonStartup, variables: variables)
            }
        case .secrets(let secrets):
            if secrets.credentials { credentials = CompiledPatterns(texts: BuiltinLocations.credentials, variables: variables) }
            for p in secrets.paths { credentials.add(p.text, variables: variables) }
            processMemory = secrets.processMemory
            credentialObjects = Self.existingObjects(credentials.absolute, objects: objects)
            readers = secrets.readers.map {
                CompiledReaders(
                    executables: CompiledPatterns($0.executables, variables: variables),
                    files: CompiledPatterns($0.files, variables: variables))
            }
        case .integrity:
            break  // judged from the hashing thread's findings (ContractSet.integrityRule)
        }
        self.networkAllow = networkAllow
        self.networkDeny = networkDeny
        self.fileAllow = fileAllow
        self.fileDeny = fileDeny
        fileAllowByAccess = FileAccess.allCases.map { fileAllow[$0] }
        fileDenyByAccess = FileAccess.allCases.map { fileDeny[$0] }
        self.execAllow = execAllow
        self.execDeny = execDeny
        self.execMemoryBacked = execMemoryBacked
        self.persistence = persistence
        self.pythonStartup = pythonStartup
        self.credentials = credentials
        self.credentialObjects = credentialObjects
        self.readers = readers
        self.processMemory = processMemory
        self.outlive = outlive
        self.daemonize = daemonize
        self.unmonitoredSyscalls = unmonitoredSyscalls
    }

    /// The objects of the files the patterns name that exist now: the patterns the kernel can
    /// check (literal, `dir/**`, `*` segments expanded on the filesystem), as enforce mode does.
    static func existingObjects(
        _ globs: [PathGlob], objects: (String, Bool) -> [(String, FileObject)]
    ) -> [FileObject: String] {
        var found: [FileObject: String] = [:]
        for glob in globs {
            for (path, prefix) in EnforcementPlan.kernelPaths(glob.pattern, expand: EnforcementPlan.glob) ?? [] {
                guard !prefix || path != "/" else { continue }
                for (file, object) in objects(path, prefix) where found[object] == nil { found[object] = file }
            }
        }
        return found
    }

    /// The same matchers charged to another contract: a rule inherited unchanged is compiled once,
    /// and every contract that inherits it shares its matchers (and their place in the cache).
    init(_ other: CompiledRule, contract: String) {
        rule = other.rule
        self.contract = contract
        except = other.except
        exceptPaths = other.exceptPaths
        exceptDestinations = other.exceptDestinations
        networkAllow = other.networkAllow
        networkDeny = other.networkDeny
        fileAllow = other.fileAllow
        fileDeny = other.fileDeny
        fileAllowByAccess = other.fileAllowByAccess
        fileDenyByAccess = other.fileDenyByAccess
        execAllow = other.execAllow
        execDeny = other.execDeny
        execMemoryBacked = other.execMemoryBacked
        persistence = other.persistence
        pythonStartup = other.pythonStartup
        credentials = other.credentials
        credentialObjects = other.credentialObjects
        readers = other.readers
        processMemory = other.processMemory
        outlive = other.outlive
        daemonize = other.daemonize
        unmonitoredSyscalls = other.unmonitoredSyscalls
    }
}

/// A network entry compiled for matching.
struct NetworkEntryMatcher: Sendable {
    var entry: NetworkEntry
    var unixPaths: CompiledPatterns
    /// The entry's networks with `{resolvers}` expanded.
    var networks: [AddressRange]
    /// Whether the destination address must be in ``networks`` (or resolve to one of the
    /// entry's hosts): the entry names networks, `{resolvers}` or hosts. `{resolvers}` with no
    /// resolver known matches no address.
    var restrictsAddress: Bool

    init(_ entry: NetworkEntry, variables: ContractVariables) {
        self.entry = entry
        unixPaths = CompiledPatterns(entry.unixPaths, variables: variables)
        networks = entry.networks + (entry.resolvers ? variables.resolvers : [])
        restrictsAddress = !entry.networks.isEmpty || entry.resolvers || !entry.hosts.isEmpty
    }
}

/// A contract with its inherited rules resolved and every rule compiled, split by the kind of
/// event it looks at.
struct CompiledContract: Sendable {
    var contract: Contract
    var execRules: [CompiledRule] = []
    var openRules: [CompiledRule] = []
    var connectRules: [CompiledRule] = []
    var processRules: [CompiledRule] = []
    var allRules: [CompiledRule] = []
}

/// A loaded, checked and compiled set of contracts: what the evaluator consults. Immutable;
/// reloading builds a new one and swaps it in whole.
public struct ContractSet: Sendable {
    /// The policy files, in order.
    public let files: [String]
    let contracts: [CompiledContract]
    let defaultIndex: Int?
    let unattributedIndex: Int?
    let workspaceIndex: Int?
    public let variables: ContractVariables

    /// The description of rule `rule` as contract `contract` has it (inherited or its own).
    public func description(ofRule rule: String, inContract contract: String) -> String? {
        contracts.first { $0.contract.name == contract }?.allRules.first { $0.rule.id == rule }?.rule.description
    }

    /// The number of contracts and of rules after inheritance.
    public var contractCount: Int { contracts.count }
    public var ruleCount: Int { contracts.reduce(0) { $0 + $1.allRules.count } }
    /// The contracts defined in `file` and their rules after inheritance (so that the counts of
    /// the files add up to ``contractCount`` and ``ruleCount``).
    public func counts(inFile file: String) -> (contracts: Int, rules: Int) {
        let mine = contracts.filter { $0.contract.location.file == file }
        return (mine.count, mine.reduce(0) { $0 + $1.allRules.count })
    }
    /// Contract names in order.
    public var contractNames: [String] { contracts.map(\.contract.name) }

    /// Loads and compiles the policy files; the first problem found is thrown with its place.
    public static func load(files: [String], variables: ContractVariables = .fromEnvironment()) throws(ContractError) -> ContractSet {
        var documents: [PolicyDocument] = []
        for file in files { documents.append(try PolicyLoader.load(contentsOf: file)) }
        return try ContractSet(documents: documents, variables: variables)
    }

    /// Checks names and inheritance across `documents` and compiles every rule.
    ///
    /// `objects` lists the files that exist at a path or under a directory, with their device
    /// and inode: credential files are recognised by object as well as by path.
    public init(
        documents: [PolicyDocument], variables: ContractVariables,
        objects: (String, Bool) -> [(String, FileObject)] = EnforcementPlan.existingFiles
    ) throws(ContractError) {
        files = documents.map(\.file)
        self.variables = variables
        if let first = Self.problems(documents: documents).first { throw first }
        let all = documents.flatMap(\.contracts)
        var byName: [String: Contract] = [:]
        for contract in all { byName[contract.name] = contract }
        defaultIndex = all.firstIndex { $0.selector.isDefault }
        unattributedIndex = all.firstIndex { $0.selector.isUnattributed }
        workspaceIndex = all.firstIndex { $0.selector.isWorkspace }
        var compiled: [CompiledContract] = []
        var compiledRules: [Rule: CompiledRule] = [:]  // each distinct rule compiled once, shared by its heirs
        for contract in all {
            var problems: [ContractError] = []
            let rules = Self.inheritedRules(contract, byName: byName, problems: &problems)
            var c = CompiledContract(contract: contract)
            for rule in rules {
                let r: CompiledRule
                if let shared = compiledRules[rule] {
                    r = CompiledRule(shared, contract: contract.name)
                } else {
                    r = CompiledRule(rule: rule, contract: contract.name, variables: variables, objects: objects)
                    compiledRules[rule] = r
                }
                c.allRules.append(r)
                switch rule.body {
                case .network: c.connectRules.append(r)
                case .files, .secrets: c.openRules.append(r)
                case .exec: c.execRules.append(r)
                case .process(let p):
                    if p.persistence || p.pythonStartup { c.openRules.append(r) }
                    if p.outlive || p.daemonize || p.unmonitoredSyscalls { c.processRules.append(r) }
                case .integrity:
                    break  // no event kind: findings of the hashing thread
                }
            }
            compiled.append(c)
        }
        contracts = compiled
    }

    /// Every problem of names and inheritance across `documents`, in order: a name defined
    /// twice, a second `match: default` (`unattributed`, `workspace`) contract, an `extends` of
    /// an undefined contract or in a circle, an amendment of a rule that is not inherited. A
    /// contract that extends one the loader could not read (``PolicyDocument/unreadableContracts``)
    /// is not checked further: that contract's own problems were reported.
    public static func problems(documents: [PolicyDocument]) -> [ContractError] {
        let all = documents.flatMap(\.contracts)
        var problems: [ContractError] = []
        var byName: [String: Contract] = [:]
        var special: [String: Contract] = [:]
        for contract in all {
            if let first = byName[contract.name] {
                problems.append(ContractError(contract.location, "contract `\(contract.name)` is defined twice (first at \(first.location))"))
            } else {
                byName[contract.name] = contract
            }
            let kinds = [(contract.selector.isDefault, "default"), (contract.selector.isUnattributed, "unattributed"), (contract.selector.isWorkspace, "workspace")]
            for (selected, kind) in kinds where selected {
                if let first = special[kind] {
                    problems.append(ContractError(contract.location, "a second `match: \(kind)` contract (first: `\(first.name)` at \(first.location))"))
                } else {
                    special[kind] = contract
                }
            }
        }
        let unreadable = documents.reduce(into: Set<String>()) { $0.formUnion($1.unreadableContracts) }
        var reported: Set<String> = []  // one problem reported once, not again for each heir
        for contract in all {
            var found: [ContractError] = []
            _ = inheritedRules(contract, byName: byName, unreadable: unreadable, problems: &found)
            for problem in found where reported.insert(problem.description).inserted { problems.append(problem) }
        }
        return problems
    }

    /// The rules of `contract` after inheritance (`extends` chains: inherited rules first,
    /// overridden by id, then amended). Problems are added to `problems`; the rules are then
    /// those that could be resolved.
    static func inheritedRules(
        _ contract: Contract, byName: [String: Contract], unreadable: Set<String> = [], problems: inout [ContractError]
    ) -> [Rule] {
        var chain: [Contract] = [contract]
        var seen: Set<String> = [contract.name]
        while let parent = chain.last?.extends {
            guard let next = byName[parent] else {
                if unreadable.contains(parent) { return [] }
                problems.append(ContractError(chain.last?.location ?? contract.location, "contract `\(chain.last?.name ?? "")` extends `\(parent)`, which is not defined"))
                return []
            }
            guard seen.insert(next.name).inserted else {
                problems.append(ContractError(contract.location, "contract `\(contract.name)` extends itself through \(chain.map(\.name).joined(separator: " → ")) → \(next.name)"))
                return []
            }
            chain.append(next)
        }
        var rules: [Rule] = []
        for ancestor in chain.reversed() {
            for rule in ancestor.rules {
                if let i = rules.firstIndex(where: { $0.id == rule.id }) { rules[i] = rule } else { rules.append(rule) }
            }
            for amendment in ancestor.amendments {
                guard let i = rules.firstIndex(where: { $0.id == amendment.ruleID }) else {
                    problems.append(ContractError(amendment.location, "contract `\(ancestor.name)` amends rule `\(amendment.ruleID)`, which it does not inherit (rules: \(rules.map(\.id).joined(separator: ", ")))"))
                    continue
                }
                rules[i].exceptions.merge(amendment.exceptions)
            }
        }
        return rules
    }

    /// The contract that governs `package` (nil: unattributed code; with `workspace`, the
    /// workspace of `probity run`), or nil when none does. The workspace is governed by the
    /// `match: workspace` contract, else the default: never by a contract that selects packages
    /// (such as `system`).
    func contractIndex(for package: InstalledPackage?, workspace: Bool = false, baseline: Baseline?) -> Int? {
        if workspace { return workspaceIndex ?? defaultIndex }
        guard let package else { return unattributedIndex ?? defaultIndex }
        let standing = baseline?.standings(of: package) ?? Self.standings(of: package)
        for (index, c) in contracts.enumerated() where Self.selects(c.contract.selector, package, standing) {
            return index
        }
        return defaultIndex
    }

    /// The rule that denies an integrity finding of `kind` (`hash-mismatch`, `unlisted`,
    /// `unlisted-executable`) for code attributed as `attribution` (the process that executed or
    /// loaded the file), with the name of its contract; nil when that contract has none, or when
    /// the rule's `except` exempts the file or the executable.
    public func integrityRule(
        _ kind: String, attribution: Attribution?, path: String, executable: String, baseline: Baseline? = nil
    ) -> (rule: Rule, contract: String)? {
        guard let index = contractIndex(for: attribution?.package, workspace: attribution?.isWorkspace ?? false, baseline: baseline)
        else { return nil }
        for compiled in contracts[index].allRules {
            guard case .integrity(let body) = compiled.rule.body, body.denies(kind) else { continue }
            if compiled.exempts(path: path, executable: executable) { continue }
            return (compiled.rule, compiled.contract)
        }
        return nil
    }

    /// The name of the contract that governs `package`.
    public func contractName(for package: InstalledPackage?, baseline: Baseline? = nil) -> String? {
        contractIndex(for: package, baseline: baseline).map { contracts[$0].contract.name }
    }

    /// The name of the contract that governs code attributed as `attribution` (nil: unattributed).
    public func contractName(attributedAs attribution: Attribution?, baseline: Baseline? = nil) -> String? {
        contractIndex(for: attribution?.package, workspace: attribution?.isWorkspace ?? false, baseline: baseline)
            .map { contracts[$0].contract.name }
    }

    static func standings(of package: InstalledPackage) -> Set<Standing> {
        switch package.isDirect {
        case true?: [.direct]
        case false?: [.transitive]
        case nil: []
        }
    }

    static func selects(_ s: PackageSelector, _ p: InstalledPackage, _ standing: Set<Standing>) -> Bool {
        if s.isDefault || s.isUnattributed || s.isWorkspace { return false }
        if !s.purls.isEmpty && !s.purls.contains(where: { pattern in p.purl.map { pattern.matches($0) } ?? false }) { return false }
        if !s.names.isEmpty && !s.names.contains(where: { $0.matches(p.name) || $0.matches(p.qualifiedName) }) { return false }
        if !s.ecosystems.isEmpty && !s.ecosystems.contains(p.ecosystem.lowercased()) { return false }
        if !s.sources.isEmpty && !s.sources.contains(p.source) { return false }
        if !s.standings.isEmpty && !s.standings.contains(where: { standing.contains($0) }) { return false }
        return true
    }
}

/// The packages of a baseline SBOM, for `standing: new` and `standing: changed`.
public struct Baseline: Sendable {
    private var versions: [String: Set<String>] = [:]

    public init(_ document: SBOMDocument) {
        for component in document.components {
            let key = Self.key(ecosystem: component.ecosystem ?? "", name: component.name)
            versions[key, default: []].insert(component.version ?? "")
        }
    }

    public var packageCount: Int { versions.count }

    static func key(ecosystem: String, name: String) -> String {
        var name = name.lowercased()
        if ecosystem == "pypi" { name = String(name.map { $0 == "_" || $0 == "." ? "-" : $0 }) }
        return ecosystem.lowercased() + "/" + name
    }

    /// Direct or transitive as the package says, plus new or changed against the baseline.
    public func standings(of package: InstalledPackage) -> Set<Standing> {
        var result = ContractSet.standings(of: package)
        let key = Self.key(ecosystem: package.ecosystem, name: package.name)
        if let known = versions[key] {
            if let v = package.version, !known.contains(v) { result.insert(.changed) }
        } else {
            result.insert(.new)
        }
        return result
    }
}
