import Synchronization

/// The contract set in force, replaced whole on reload: a reload that fails (any file invalid)
/// changes nothing, and evaluators pick up a new set between events, never halfway through one.
public final class ContractStore: Sendable {
    private struct Current: Sendable {
        var contracts: ContractSet
        var generation: UInt64
    }

    private let current: Mutex<Current>
    /// The policy files (and `builtin`) reloads read.
    public let files: [String]
    public let variables: ContractVariables

    /// Loads `files` (`builtin` names the built-in policy); throws the first problem.
    public init(files: [String], variables: ContractVariables = .fromEnvironment()) throws(ContractError) {
        self.files = files
        self.variables = variables
        current = Mutex(Current(contracts: try Self.load(files, variables), generation: 1))
    }

    static func load(_ files: [String], _ variables: ContractVariables) throws(ContractError) -> ContractSet {
        try ContractSet(documents: try PolicyLoader.documents(files), variables: variables)
    }

    /// The set in force and its generation (1 at start, +1 per successful reload).
    public var snapshot: (contracts: ContractSet, generation: UInt64) {
        current.withLock { ($0.contracts, $0.generation) }
    }

    /// Reads every file again and swaps the new set in; on any error the old set stays in force
    /// and the error (with `file:line:column`) is thrown.
    @discardableResult
    public func reload() throws(ContractError) -> UInt64 {
        let fresh = try Self.load(files, variables)
        return current.withLock { state in
            state.contracts = fresh
            state.generation += 1
            return state.generation
        }
    }
}

extension Evaluator {
    /// Takes the store's set if it is newer than `generation`; call between events.
    public mutating func refresh(from store: ContractStore, generation: inout UInt64) {
        let snapshot = store.snapshot
        guard snapshot.generation != generation else { return }
        replace(snapshot.contracts)
        generation = snapshot.generation
    }
}
